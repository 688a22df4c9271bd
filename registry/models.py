"""Sites, physical assets and their append-only lifecycle ledger."""

import uuid
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from hardware.models import HardwareModel
from registry.lifecycle import (
    EventKind,
    SanitisationMethod,
    State,
    Workload,
    date_out_of_bounds,
)

SITE_CODE = RegexValidator(r"^[A-Z0-9][A-Z0-9-]{1,19}$", "2–20 capitals, digits or dashes.")
COUNTRY = RegexValidator(r"^[A-Z]{2}$", "ISO 3166-1 alpha-2 code, e.g. FR.")
CURRENCY = RegexValidator(r"^[A-Z]{3}$", "ISO 4217 code, e.g. EUR.")


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris).")


def validate_past_date(value) -> None:
    """A date that has happened: from the registry's floor to today."""
    if problem := date_out_of_bounds(value):
        raise ValidationError(problem)


def validate_planned_date(value) -> None:
    """A date that may lie ahead (a warranty's end, a planned end of life): within the bounds."""
    if problem := date_out_of_bounds(value, planned=True):
        raise ValidationError(problem)


class SanitisationPolicy(models.TextChoices):
    # NIST SP 800-88: media leaving the organisation's control need purge or destroy.
    NIST = "nist", "NIST SP 800-88: purge or destroy before leaving custody"
    DESTROY = "destroy", "Destroy before leaving custody or recycling"


# Further rules on a site from apps registry cannot import: callables (site) -> {field: reason}
# (reporting: a time zone change must not move the day boundaries of archived readings).
SITE_CHECKS: list = []


class Site(models.Model):
    """A data centre."""

    code = models.CharField(max_length=20, unique=True, validators=[SITE_CODE])
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, validators=[COUNTRY])
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    sanitisation_policy = models.CharField(
        max_length=10, choices=SanitisationPolicy.choices, default=SanitisationPolicy.NIST
    )
    operators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="operated_sites",
        help_text="Operators who may create assets and record events at this site.",
    )

    history = HistoricalRecords(m2m_fields=[operators])

    class Meta:
        ordering = ["code"]
        verbose_name = "site"

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    def clean(self):
        errors: dict[str, str] = {}
        for check in SITE_CHECKS:
            for name, reason in check(self).items():
                errors.setdefault(name, reason)
        if errors:
            raise ValidationError(errors)


class Asset(models.Model):
    """One physical unit of a hardware model. Its state is derived from its ledger."""

    asset_tag = models.CharField(max_length=50, unique=True)
    serial_number = models.CharField(max_length=100, blank=True)
    hardware_model = models.ForeignKey(
        HardwareModel, on_delete=models.PROTECT, related_name="assets"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="assets")
    room = models.CharField(max_length=50, blank=True)
    rack = models.CharField(max_length=50, blank=True)
    position_u = models.PositiveSmallIntegerField(null=True, blank=True)
    owner = models.CharField(max_length=100, blank=True, help_text="Owner or tenant")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="components",
        help_text="The asset this one is installed in (set by component events).",
    )
    purchase_date = models.DateField(null=True, blank=True, validators=[validate_past_date])
    purchase_price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(max_length=3, blank=True, validators=[CURRENCY])
    supplier = models.CharField(max_length=200, blank=True)
    warranty_end = models.DateField(null=True, blank=True, validators=[validate_planned_date])
    support_end = models.DateField(
        null=True,
        blank=True,
        verbose_name="support end",
        help_text="The maker's or a contractor's support (firmware, spares, service) ends.",
        validators=[validate_planned_date],
    )
    planned_eol = models.DateField(
        null=True,
        blank=True,
        verbose_name="planned end of life",
        validators=[validate_planned_date],
    )
    measured_mass_kg = models.DecimalField(
        max_digits=9,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Only when it differs from the catalogue mass.",
    )
    data_bearing = models.BooleanField(
        default=False,
        verbose_name="holds or has held data",
        help_text="Set from its model at purchase, by any data-bearing component ever installed, "
        "or by an operator; never cleared. Data-bearing units leave custody only after a "
        "verified purge or destruction.",
    )
    state = models.CharField(max_length=24, choices=State.choices, editable=False, db_index=False)
    workload = models.CharField(max_length=20, choices=Workload.choices, blank=True, editable=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]
        verbose_name = "asset"
        constraints = [
            models.UniqueConstraint(
                fields=["hardware_model", "serial_number"],
                condition=~models.Q(serial_number=""),
                name="asset_serial_unique_per_model",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=State.values), name="asset_state_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="asset_not_own_parent"
            ),
        ]
        indexes = [
            # The list endpoint filters by state and site and pages by id.
            models.Index(fields=["state", "site", "id"], name="asset_state_site_id"),
            models.Index(fields=["site", "id"], name="asset_site_id"),
            models.Index(fields=["hardware_model", "state"], name="asset_model_state"),
            # Reuse candidates list the first few assets of each (model, site) group of a page.
            models.Index(fields=["hardware_model", "site", "id"], name="asset_model_site_id"),
            models.Index(fields=["planned_eol"], name="asset_eol"),
            models.Index(fields=["serial_number"], name="asset_serial"),
        ]

    def __str__(self) -> str:
        return self.asset_tag

    @property
    def mass_kg(self) -> Decimal | None:
        return (
            self.measured_mass_kg
            if self.measured_mass_kg is not None
            else (self.hardware_model.mass_kg)
        )

    @property
    def holds_data(self) -> bool:
        """The unit's own record, or its model's: a catalogue edit can add, never take away."""
        return self.data_bearing or self.hardware_model.holds_data

    def clean(self):
        super().clean()
        if self.measured_mass_kg is not None and self.measured_mass_kg <= 0:
            # It would override the catalogue's mass and count as 0 t in the circular figures.
            raise ValidationError({"measured_mass_kg": ZERO_MASS})
        if (
            self.pk is not None
            and not self.data_bearing
            and Asset.objects.filter(pk=self.pk, data_bearing=True).exists()
        ):
            raise ValidationError(
                {"data_bearing": "A unit that has held data stays marked so (it is never cleared)."}
            )


ZERO_MASS = "0 kg is no unit's mass: leave it blank when not weighed (the catalogue's then counts)."


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The lifecycle ledger is append-only: record a correction.")

    def delete(self):
        raise PermissionError("The lifecycle ledger is append-only: record a correction.")


class LifecycleEvent(models.Model):
    """One row of the append-only ledger: something that happened to an asset.

    Never edited, never deleted (the model, the queryset and a database trigger all refuse);
    a mistake is corrected by a `correction` event pointing at the row it corrects.
    """

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    occurred_at = models.DateTimeField(help_text="When it happened")
    recorded_at = models.DateTimeField(auto_now_add=True, help_text="When it was recorded")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    state_before = models.CharField(max_length=24, choices=State.choices, blank=True)
    state_after = models.CharField(max_length=24, choices=State.choices)
    details = models.JSONField(default=dict, blank=True)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    caused_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cascaded",
        help_text="The parent's event a component followed",
    )
    # Denormalised for the circular figures (site and period queries).
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    sanitisation_method = models.CharField(
        max_length=10, choices=SanitisationMethod.choices, blank=True
    )
    data_bearing = models.BooleanField(
        null=True,
        blank=True,
        verbose_name="held data",
        help_text="Whether the unit held or had held data when this row was recorded "
        "(blank: recorded before the ledger kept it).",
    )

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["asset", "occurred_at", "id"]
        verbose_name = "lifecycle event"
        indexes = [
            models.Index(fields=["asset", "occurred_at", "id"], name="event_asset_time"),
            models.Index(fields=["kind", "occurred_at"], name="event_kind_time"),
            models.Index(fields=["site", "occurred_at"], name="event_site_time"),
        ]

    def __str__(self) -> str:
        when = self.occurred_at
        return (
            f"{self.asset.asset_tag}: {self.get_kind_display().lower()} on {when.day} {when:%b %Y}"
        )

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("The lifecycle ledger is append-only: record a correction.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The lifecycle ledger is append-only: record a correction.")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "imported"
    REJECTED = "rejected", "rejected (nothing written)"
    FAILED = "failed", "failed (nothing written)"


class AssetImportJob(models.Model):
    """An asset import too large to check and write inside a request, run by a worker.

    It follows the job lifecycle every kind shares (circulus.jobs; registry.import_jobs.IMPORT):
    claims with attempts, a heartbeat, the reaper, retries. Its file waits under
    MEDIA_ROOT/imports until the job succeeds or is rejected, or until a failed job is given up
    (not retried within IMPORT_FILE_MAX_AGE_SECONDS); the job keeps the outcome: the rows
    checked so far (progress), the assets created or every error.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=200, blank=True, help_text="the file's name")
    file = models.FileField(upload_to="imports/", blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    rows_checked = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0, help_text="assets registered")
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    # The job lifecycle shared by every kind (circulus.jobs): attempts, worker, heartbeat.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the last attempt")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life: queued, claimed or beating"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "asset import job"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="assetimport_state_beat")]

    def __str__(self) -> str:
        return f"{self.source or 'import'} ({self.get_status_display()})"


class IdempotencyKey(models.Model):
    """The first result of a POST sent with an `Idempotency-Key` header, replayed on retries."""

    key = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    method_path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "idempotency key"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class ReuseMeasurement(models.Model):
    """A decode run measured by an operator on an accelerator, or on a server's accelerators.

    Reuse candidates prefer a matching measurement at their site over the estimate; the
    calibration can include a site's measurements (docs/reuse.md). Written by
    `registry.measurements.record_measurement` only.
    """

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="reuse_measurements")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="reuse_measurements")
    hardware_model = models.ForeignKey(
        HardwareModel,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="the accelerator model measured (the server's GPUs for a server)",
    )
    llm = models.CharField("language model", max_length=100)
    precision = models.CharField(max_length=10)
    engine = models.CharField("serving software", max_length=40)
    n_devices = models.PositiveSmallIntegerField(
        "accelerators used", default=1, validators=[MinValueValidator(1)]
    )
    concurrency = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    context_tokens = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    tokens_per_s = models.DecimalField(
        max_digits=12, decimal_places=3, help_text="aggregate decode tokens/s over all requests"
    )
    power_w = models.DecimalField(
        "average power (W)", max_digits=9, decimal_places=1, null=True, blank=True
    )
    duration_s = models.PositiveIntegerField("duration (s)", validators=[MinValueValidator(1)])
    started_at = models.DateTimeField(
        "started at",
        null=True,
        blank=True,
        help_text="when the measured window began, in UTC; blank when only its day is known",
    )
    measured_on = models.DateField(help_text="the day (UTC) the measured window ended")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-measured_on", "-id"]
        verbose_name = "reuse measurement"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tokens_per_s__gt=0), name="reuse_measurement_tokens_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(power_w__isnull=True) | models.Q(power_w__gt=0),
                name="reuse_measurement_power_positive",
            ),
        ]
        indexes = [
            models.Index(
                fields=["llm", "precision", "engine", "concurrency", "site"],
                name="reuse_meas_match",
            )
        ]

    def __str__(self) -> str:
        return f"{self.llm} on {self.asset}: {self.tokens_per_s} tokens/s ({self.measured_on})"

    def clean(self) -> None:
        # The constraint above would only say "violated", with no field: every door (the admin
        # form, registry.measurements.check) reaches this first and names power_w; full_clean
        # then skips the constraint on a field that already has an error.
        if isinstance(self.power_w, (int, Decimal)) and self.power_w <= 0:
            raise ValidationError({"power_w": "must be above 0"})


class ExpiryNotice(models.Model):
    """One expiry (warranty, support or planned end of life) of one asset told to one operator
    at one threshold: the digest task sends each at most once."""

    class Kind(models.TextChoices):
        WARRANTY = "warranty", "Warranty ends"
        SUPPORT = "support", "Support ends"
        END_OF_LIFE = "end-of-life", "Planned end of life"

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="expiry_notices")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    due = models.DateField(help_text="The date that was announced.")
    threshold_days = models.PositiveSmallIntegerField(
        help_text="Told when at most this many days were left."
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="expiry_notices"
    )
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["due", "asset_id"]
        verbose_name = "expiry notice"
        constraints = [
            # A new date (an extended warranty) is a new expiry: it is told again.
            models.UniqueConstraint(
                fields=["asset", "kind", "due", "threshold_days", "recipient"],
                name="expiry_notice_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.due:%Y-%m-%d}: {self.asset}"


class WebhookSubscription(models.Model):
    """An address told of every ledger event that matches: by kind, site and state change."""

    name = models.CharField(max_length=100)
    url = models.URLField(
        max_length=500, verbose_name="address", help_text="https://… that receives a POST per event"
    )
    secret = models.CharField(
        max_length=64,
        editable=False,
        help_text="Signs each delivery (HMAC-SHA256); shown once, when the subscription is made.",
    )
    kinds = models.JSONField(
        default=list, blank=True, help_text="Event kinds to send; none means every kind."
    )
    sites = models.ManyToManyField(
        Site, blank=True, related_name="+", help_text="Sites to send; none means every site."
    )
    from_state = models.CharField(
        max_length=24,
        choices=State.choices,
        blank=True,
        help_text="Only events leaving this state.",
    )
    to_state = models.CharField(
        max_length=24,
        choices=State.choices,
        blank=True,
        help_text="Only events ending in this state.",
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one subscription. Its id is the delivery id a receiver
    sees on every attempt, so a retry after a lost answer can be recognised and dropped."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        DELIVERED = "delivered", "Delivered"
        GAVE_UP = "gave-up", "Given up after every retry"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(LifecycleEvent, on_delete=models.PROTECT, related_name="+")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name="last HTTP status"
    )
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_once_per_event")
        ]
        indexes = [
            models.Index(fields=["outcome", "next_attempt_at"], name="webhook_due"),
            models.Index(
                fields=["subscription", "asset", "outcome", "event"], name="webhook_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} ← event {self.event_id}"


class AuditStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSING = "closing", "Closing"  # a worker is recording what was seen (a large audit)
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class Audit(models.Model):
    """A physical count of a site, or of one room or rack of it: the tags scanned on the floor
    compared with what the register says is there. Closing it records each unit seen in the
    ledger (`audited`, with where), and the moves an operator confirmed (registry.audits)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="audits")
    room = models.CharField(
        max_length=50, blank=True, help_text="Only this room (blank: every room of the site)."
    )
    rack = models.CharField(
        max_length=50, blank=True, help_text="Only this rack (blank: every rack)."
    )
    status = models.CharField(max_length=10, choices=AuditStatus.choices, default=AuditStatus.OPEN)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Closed or cancelled at.")
    note = models.TextField(blank=True)
    outcome = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="The four lists as they stood when the audit was closed, and what was recorded.",
    )
    close_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker was asked to close it (a large audit)."
    )
    close_moves = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="The misplaced tags the closer ticked, kept while a worker closes the audit.",
    )
    close_failure = models.TextField(
        blank=True,
        editable=False,
        help_text="Why the last close by a worker recorded nothing (the audit is open again).",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "audit"
        indexes = [models.Index(fields=["site", "status"], name="audit_site_status")]

    def __str__(self) -> str:
        return f"Audit {self.pk}: {self.scope}"

    @property
    def scope(self) -> str:
        return place(self.site.code, self.room, self.rack)


def place(site: str, room: str = "", rack: str = "") -> str:
    """A location as people say it: "PAR1, room Hall 2, rack R07"."""
    return ", ".join(
        [site] + ([f"room {room}"] if room else []) + ([f"rack {rack}"] if rack else [])
    )


class AuditScan(models.Model):
    """One tag scanned or typed during an audit: as it was typed, when, by whom and where (the
    audit's site; its room and rack, or the ones the scanner named). A tag scanned twice is
    one unit seen; the last scan says where."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="scans")
    tag = models.CharField(max_length=100, help_text="As scanned or typed.")
    asset = models.ForeignKey(
        Asset,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_scans",
        help_text="The unit the tag named when scanned (blank: no such tag in the register).",
    )
    room = models.CharField(max_length=50, blank=True)
    rack = models.CharField(max_length=50, blank=True)
    scanned_at = models.DateTimeField(default=timezone.now)
    scanned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["scanned_at", "id"]
        verbose_name = "audit scan"
        indexes = [models.Index(fields=["audit", "asset"], name="audit_scan_asset")]

    def __str__(self) -> str:
        return f"{self.tag} ({self.scanned_at:%Y-%m-%d %H:%M})"
