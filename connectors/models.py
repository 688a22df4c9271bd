"""Connectors: the machines Circulus reads from (BMCs, Prometheus, SNMP agents), what each one
feeds (inventory, meters), and every pull as a job with its log and outcome.

Credentials are kept encrypted (connectors.secrets); no field, form or serializer hands them back.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from hardware.models import HardwareKind, HardwareModel
from registry.models import Site
from reporting.models import MeasurementPoint, Register


class SourceKind(models.TextChoices):
    REDFISH = "redfish", "Redfish (server BMC)"
    PROMETHEUS = "prometheus", "Prometheus (HTTP API)"
    SNMP = "snmp", "SNMP agent (PDU, meter)"


class Source(models.Model):
    """A machine that speaks a standard protocol, read on a schedule for one site."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=SourceKind.choices)
    endpoint = models.CharField(
        max_length=300,
        help_text="Redfish and Prometheus: the service's base URL (https://bmc-12.example:443, "
        "http://prometheus.example:9090). SNMP: host:port of the agent (UDP, port 161 by default).",
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="connector_sources")
    reads_inventory = models.BooleanField(
        default=False,
        help_text="Redfish: read systems, chassis and parts into a dry-run inventory diff.",
    )
    interval_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
        help_text="How often the source is pulled.",
    )
    enabled = models.BooleanField(default=True)
    timeout_s = models.PositiveSmallIntegerField(
        "timeout (s)",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text="A request that gets no answer within this fails the pull (and is retried).",
    )
    verify_tls = models.BooleanField("verify TLS certificates", default=True)
    # Fernet token of a JSON object (username/password, community, token): written by
    # `set_credentials`, read by the pull only, never shown.
    credentials_encrypted = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site__code", "name"]
        verbose_name = "connector source"

    def __str__(self) -> str:
        return self.name

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_encrypted)

    def set_credentials(self, values: dict | None) -> None:
        from connectors import secrets

        cleaned = {k: v for k, v in (values or {}).items() if v not in (None, "")}
        self.credentials_encrypted = secrets.encrypt(cleaned) if cleaned else ""

    def credentials(self) -> dict:
        from connectors import secrets

        return secrets.decrypt(self.credentials_encrypted) if self.credentials_encrypted else {}

    def clean(self):
        from connectors.clients import endpoint_problem

        errors = {}
        problem = endpoint_problem(self.kind, self.endpoint or "")
        if problem:
            errors["endpoint"] = problem
        if self.reads_inventory and self.kind != SourceKind.REDFISH:
            errors["reads_inventory"] = "Only a Redfish source reports an inventory."
        if errors:
            raise ValidationError(errors)


class SensorUnit(models.TextChoices):
    """The unit a sensor reports in; readings are converted exactly to the meter's unit."""

    MJ = "mJ", "millijoule (DCGM total energy)"
    J = "J", "joule"
    WH = "Wh", "watt-hour"
    HWH = "hWh", "0.1 kWh (APC PowerNet rPDU2 energy)"
    KWH = "kWh", "kilowatt-hour"
    MWH = "MWh", "megawatt-hour"


class MeterFeed(models.Model):
    """One energy counter of a source read into one meter (a cumulative register)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="feeds")
    meter = models.OneToOneField(
        MeasurementPoint, on_delete=models.PROTECT, related_name="connector_feed"
    )
    sensor = models.CharField(
        max_length=500,
        help_text="Redfish: the sensor's or PowerSubsystem's path "
        "(/redfish/v1/Chassis/1U/Sensors/TotalEnergy). Prometheus: a PromQL expression giving "
        'one series (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{Hostname="gpu-1",gpu="0"}). '
        "SNMP: the counter's numeric OID (1.3.6.1.4.1.…).",
    )
    sensor_unit = models.CharField(max_length=4, choices=SensorUnit.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "meter__code"]
        verbose_name = "meter feed"

    def __str__(self) -> str:
        return f"{self.source} → {self.meter}"

    def clean(self):
        errors = {}
        if self.meter_id and self.source_id:
            if self.meter.site_id != self.source.site_id:
                errors["meter"] = (
                    f"{self.meter.code} is at {self.meter.site.code}; "
                    f"the source reads {self.source.site.code}"
                )
            elif self.meter.register != Register.CUMULATIVE:
                errors["meter"] = (
                    f"{self.meter.code} is an interval register; a connector reads counters "
                    "into a cumulative register"
                )
            elif self.meter.unit not in {"Wh", "kWh", "MWh", "GJ"}:
                errors["meter"] = f"{self.meter.code} does not meter energy"
        if self.source_id and self.source.kind == SourceKind.REDFISH and self.sensor_unit != "kWh":
            errors["sensor_unit"] = "Redfish reports energy in kWh (EnergykWh)"
        oid = all(part.isdigit() for part in self.sensor.strip(".").split("."))
        if self.source_id and self.source.kind == SourceKind.SNMP and not oid:
            errors["sensor"] = "an SNMP sensor is a numeric OID such as 1.3.6.1.4.1.318.1.1.1"
        if errors:
            raise ValidationError(errors)


class ModelMapping(models.Model):
    """What a BMC calls a part → the catalogue model it is. Checked before the catalogue's own
    part numbers and names, so an operator can teach the sync any vendor spelling."""

    part_kind = models.CharField(
        max_length=20, choices=HardwareKind.choices, help_text="The kind of part it applies to."
    )
    reported_part_number = models.CharField(max_length=100, blank=True)
    reported_model = models.CharField(
        max_length=200, blank=True, help_text="The model name the BMC reports (exact, any case)."
    )
    hardware_model = models.ForeignKey(HardwareModel, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["part_kind", "reported_part_number", "reported_model"]
        verbose_name = "model mapping"

    def __str__(self) -> str:
        return f"{self.reported_part_number or self.reported_model} → {self.hardware_model}"

    def clean(self):
        if not (self.reported_part_number.strip() or self.reported_model.strip()):
            raise ValidationError(
                {"reported_part_number": "Give the reported part number, the model, or both."}
            )


class PullState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Pull(models.Model):
    """One pull of a source: a job with progress, a log and an outcome (circulus.jobs).

    A Redfish inventory pull keeps its dry-run diff; an operator applies it (`applied_at`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="pulls")
    state = models.CharField(max_length=10, choices=PullState.choices, default=PullState.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    log = models.TextField(blank=True)
    outcome = models.TextField(blank=True, help_text="What the pull did, in a sentence")
    error = models.TextField(blank=True)
    readings = models.PositiveIntegerField(default=0, help_text="Readings written")
    diff = models.JSONField(default=dict, blank=True, help_text="Inventory dry run")
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="A failed pull is tried again from then (backoff)"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The job lifecycle shared by every kind (circulus.jobs): attempts, worker, heartbeat.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the last attempt")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "pull"
        indexes = [models.Index(fields=["source", "-created_at"], name="pull_source_recent")]

    def __str__(self) -> str:
        return f"{self.source} {self.created_at:%Y-%m-%d %H:%M} ({self.state})"
