"""EU data-centre reporting (Delegated Regulation (EU) 2024/1364): site profiles, reporting
periods with their Annex II inputs, meters, readings and computed results.

Units are in field names. Meter readings are stored as metered (the meter's unit, before its
multiplier); the computation converts them to the canonical Annex II units.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from registry.models import Site
from reporting import enefg
from reporting import indicators as ind

# Annex I 2: redundancy against the baseline 'N', e.g. N, N+1, N+2, 2N, 2N+1.
REDUNDANCY = RegexValidator(r"^[1-9]?N(\+[1-9]\d*)?$", "Use N, N+1, N+2, 2N, 2N+1 …")
# Eurostat LAU codes are national codes of up to 13 characters (digits, letters, separators).
LAU_CODE = RegexValidator(r"^[A-Z0-9][A-Z0-9_.\- ]{0,12}$", "LAU code from the Eurostat tables.")
NUTS3_CODE = RegexValidator(r"^[A-Z]{2}[A-Z0-9]{3}$", "NUTS 3 code, e.g. FR101.")
METER_CODE = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}$", "Letters, digits, _.:/-")

SYMBOL_CHOICES = [(s, f"{s} — {ref} [{unit}]") for s, (ref, unit) in ind.ALL_SYMBOLS.items()]
# German postcodes (Postleitzahl) are five digits.
POSTCODE = RegexValidator(r"^[0-9A-Z][0-9A-Z \-]{2,9}$", "Postcode, e.g. 10115.")


class DataCentreType(models.TextChoices):
    # Annex I 1(d), definitions in Art. 2(1)-(3)
    ENTERPRISE = "enterprise", "Enterprise data centre"
    COLOCATION = "colocation", "Colocation data centre"
    CO_HOSTING = "co-hosting", "Co-hosting data centre"


class StructureType(models.TextChoices):
    STRUCTURE = "structure", "Structure"
    GROUP = "group", "Group of structures"


class SiteProfile(models.Model):
    """Annex I information for one data centre (the registry Site)."""

    # Annex I 1(b)-(e) and 2, in the Regulation's order: what the EU workbook and the API show.
    ANNEX_I = (
        "owner_name",
        "owner_contact",
        "operator_name",
        "operator_contact",
        "lau_code",
        "nuts3_code",
        "dc_type",
        "structure_type",
        "also_cohosting",
        "also_colocation",
        "operation_start_year",
        "operation_start_month",
        "red_el_hv",
        "red_el_lv",
        "red_el_rack",
        "red_cool_room",
        "red_cool_rack",
    )

    site = models.OneToOneField(Site, on_delete=models.PROTECT, related_name="reporting_profile")
    owner_name = models.CharField(max_length=200)
    owner_contact = models.CharField(max_length=300)
    operator_name = models.CharField(max_length=200)
    operator_contact = models.CharField(max_length=300)
    lau_code = models.CharField("LAU code", max_length=13, validators=[LAU_CODE])
    nuts3_code = models.CharField("NUTS 3 code", max_length=5, blank=True, validators=[NUTS3_CODE])
    dc_type = models.CharField("type", max_length=12, choices=DataCentreType.choices)
    structure_type = models.CharField(max_length=10, choices=StructureType.choices)
    also_cohosting = models.BooleanField(default=False, help_text="Colocation DC also co-hosts")
    also_colocation = models.BooleanField(default=False, help_text="Co-hosting DC also colocates")
    operation_start_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1950), MaxValueValidator(2100)]
    )
    operation_start_month = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    red_el_hv = models.CharField("electrical, high voltage", max_length=8, validators=[REDUNDANCY])
    red_el_lv = models.CharField("electrical, low voltage", max_length=8, validators=[REDUNDANCY])
    red_el_rack = models.CharField("electrical, rack", max_length=8, validators=[REDUNDANCY])
    red_cool_room = models.CharField("cooling, room", max_length=8, validators=[REDUNDANCY])
    red_cool_rack = models.CharField("cooling, rack", max_length=8, validators=[REDUNDANCY])
    postcode = models.CharField(
        max_length=10,
        blank=True,
        validators=[POSTCODE],
        help_text="Postal code of the site (Germany: EnEfG Anlage 3 1(d), RZReg)",
    )
    public_owner = models.BooleanField(
        "owned by or operated for a public body",
        null=True,
        blank=True,
        help_text="Germany, EnEfG §12(3): a management system is validated or certified from "
        "300 kW (else from 1 MW). Blank: unknown.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["site__code"]
        verbose_name = "site reporting profile"

    def __str__(self) -> str:
        return f"Annex I profile of {self.site.code}"

    def clean(self):
        errors = {}
        if self.pk and self.site_id:
            stored = SiteProfile.objects.filter(pk=self.pk).values_list("site_id", flat=True)
            if stored and stored[0] != self.site_id:
                errors["site"] = "A profile stays with its site: change the site's own profile."
        if self.site_id and self.nuts3_code:
            # Eurostat writes Greece as EL in NUTS codes (ISO 3166 says GR).
            country = {"GR": "EL"}.get(self.site.country, self.site.country)
            if not self.nuts3_code.startswith(country):
                errors["nuts3_code"] = f"NUTS 3 code must start with {country} for this site."
        german = self.site_id and self.site.country == "DE"
        if german and enefg.postcode_problem(self.postcode):
            errors["postcode"] = enefg.postcode_problem(self.postcode)
        if self.also_cohosting and self.dc_type != DataCentreType.COLOCATION:
            errors["also_cohosting"] = "Only a colocation data centre 'also offers co-hosting'."
        if self.also_colocation and self.dc_type != DataCentreType.CO_HOSTING:
            errors["also_colocation"] = "Only a co-hosting data centre 'also offers colocation'."
        if errors:
            raise ValidationError(errors)


class PeriodStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    VALIDATED = "validated", "Validated"
    SUBMITTED = "submitted", "Submitted"


class PdItBasis(models.TextChoices):
    # Annex II 1(a): installed PDIT, or rated IT load when PDIT cannot be determined
    INSTALLED = "installed", "Installed IT power demand"
    RATED = "rated", "Rated IT load"


class Schema(models.TextChoices):
    # Which field dictionary the period follows (reporting.indicators.field_dictionary)
    EU_2024 = ind.SCHEMA_2024, "2024/1364"
    EU_2026 = ind.SCHEMA_2026, "2024/1364 as amended by the 2026 rating act (WUE on WIN-FRE)"


class HeatReuseReadiness(models.TextChoices):
    # 2026 label content "waste-heat-reuse readiness"
    REUSING = "reusing", "Waste heat reused"
    READY = "ready", "Ready for reuse (connection prepared)"
    NOT_READY = "not-ready", "Not ready"


class ReportingPeriod(models.Model):
    """One site's reporting year (Art. 3(1)): the calendar year, or the part of it in operation."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="reporting_periods")
    year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2023), MaxValueValidator(2100)]
    )
    partial_year = models.BooleanField(
        default=False, help_text="Operating for part of the year only (Art. 3(1)); state dates."
    )
    start_date = models.DateField(help_text="First day, in the site's time zone")
    end_date = models.DateField(help_text="Last day (inclusive), in the site's time zone")
    status = models.CharField(
        max_length=10, choices=PeriodStatus.choices, default=PeriodStatus.DRAFT, editable=False
    )
    schema = models.CharField(
        "field dictionary",
        max_length=16,
        choices=Schema.choices,
        default=Schema.EU_2024,
        editable=False,
        help_text="Chosen by the year: the dictionary applying when the year's report is due. "
        "2024/1364+2026: WUE = WIN-FRE / EIT, no data-traffic indicators",
    )
    heat_reuse_readiness = models.CharField(
        max_length=10, choices=HeatReuseReadiness.choices, blank=True, help_text="2026 label"
    )
    pdit_basis = models.CharField(max_length=10, choices=PdItBasis.choices, blank=True)
    wue_category = models.PositiveSmallIntegerField(
        "WUE category", null=True, blank=True, choices=[(1, "Category 1"), (2, "Category 2")]
    )
    eit_method_note = models.CharField(max_length=300, blank=True)
    grid_functions = models.TextField(blank=True, help_text="Annex II 1(f), e.g. FFR")
    refrigerants = models.CharField(max_length=300, blank=True, help_text="Annex II 1(m)")
    cdd_source = models.CharField("CDD source", max_length=200, blank=True)
    cserv_scr_coverage_pct = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    cstor_scr_coverage_pct = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    fill_gaps = models.BooleanField(
        default=False,
        help_text="Scale interval meters with gaps up to full coverage (figures become estimated)",
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["site__code", "-year"]
        verbose_name = "reporting period"
        constraints = [
            models.UniqueConstraint(fields=["site", "year"], name="period_site_year_unique"),
            models.CheckConstraint(
                condition=models.Q(start_date__lte=models.F("end_date")),
                name="period_start_before_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site.code} {self.year}"

    @classmethod
    def calendar_year(cls, site: Site, year: int, **fields) -> "ReportingPeriod":
        fields.setdefault("schema", ind.governing_dictionary(year)[0])
        return cls(
            site=site, year=year, start_date=date(year, 1, 1), end_date=date(year, 12, 31), **fields
        )

    def clean(self):
        errors = {}
        if self.year:
            # The year chooses the dictionary (an act adopted after a report was due does not
            # govern it); a year change moves the period to its year's dictionary.
            self.schema = ind.governing_dictionary(self.year)[0]
        if self.year and self.start_date and self.end_date:
            if not (self.start_date.year == self.end_date.year == self.year):
                errors["end_date"] = f"The period must lie within {self.year}."
            elif self.start_date > self.end_date:
                errors["end_date"] = "The period ends before it starts."
            full = (self.start_date, self.end_date) == (
                date(self.year, 1, 1),
                date(self.year, 12, 31),
            )
            if not full and not self.partial_year:
                errors["partial_year"] = "A period shorter than the year must be a partial year."
        if self.pk and self.schema in ind.SCHEMAS:
            # A dictionary change must not strand entered values the new one has no field for.
            known = set(ind.field_dictionary(self.schema)) | set(ind.SYMBOLS_DE)
            stranded = sorted(set(self.values.values_list("symbol", flat=True)) - known)
            if stranded:
                errors["year"] = (
                    f"{', '.join(stranded)} entered: not in the {self.schema} field dictionary "
                    f"of {self.year}; remove them first."
                )
        if errors:
            raise ValidationError(errors)


class Quality(models.TextChoices):
    MEASURED = "measured", "Measured"
    ESTIMATED = "estimated", "Estimated"
    ALLOCATED = "allocated", "Allocated"
    MISSING = "missing", "Missing"
    OMITTED = "omitted", "Omitted (Art. 3(2))"


class FieldValue(models.Model):
    """One entered Annex II value with its quality flag, or flags on a metered field."""

    period = models.ForeignKey(ReportingPeriod, on_delete=models.CASCADE, related_name="values")
    symbol = models.CharField(max_length=12, choices=SYMBOL_CHOICES)
    value = models.DecimalField(
        max_digits=24, decimal_places=6, null=True, blank=True, help_text="Canonical unit"
    )
    # No default: an entered value says on what basis it stands.
    quality = models.CharField(max_length=10, choices=Quality.choices)
    measured_by = models.CharField(
        max_length=300,
        blank=True,
        help_text="For a measured value: the instrument or document it was read from "
        "(e.g. 'as-built floor plans rev. C, 2024', 'Copernicus CDS ERA5, NUTS-3 FR101')",
    )
    omission_reason = models.TextField(blank=True, help_text="Art. 3(2): technical reason")
    note = models.TextField(blank=True)
    confidential = models.BooleanField(
        default=False, help_text="Left out of the 'publish' export (Art. 5(5) confidentiality)"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["period", "symbol"]
        verbose_name = "Annex II value"
        constraints = [
            models.UniqueConstraint(fields=["period", "symbol"], name="value_period_symbol")
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.symbol}"

    def clean(self):
        if self.period_id and self.symbol:
            self._check_dictionary()
        if self.quality == Quality.OMITTED and not self.omission_reason.strip():
            raise ValidationError({"omission_reason": "Art. 3(2) omissions must give the reason."})
        if self.quality in (Quality.OMITTED, Quality.MISSING) and self.value is not None:
            raise ValidationError({"value": f"A {self.quality} field has no value."})
        if self.quality == Quality.MEASURED and not self.measured_by.strip():
            raise ValidationError(
                {"measured_by": "A measured value names the instrument or document it came from."}
            )
        if self.quality != Quality.MEASURED and self.measured_by.strip():
            raise ValidationError(
                {"measured_by": "Only a measured value names a measuring instrument or document."}
            )

    def _check_dictionary(self):
        period = self.period
        if self.symbol in ind.SYMBOLS_DE:
            if period.site.country != "DE":
                raise ValidationError(
                    {"symbol": f"{self.symbol} is a German EnEfG field; this site is not in DE."}
                )
        elif self.symbol not in ind.field_dictionary(period.schema):
            raise ValidationError(
                {"symbol": f"{self.symbol} is not in the {period.schema} field dictionary."}
            )


class PowerDemandSegment(models.Model):
    """PDIT over a dated stretch of the period; PDIT is their time-weighted average (II.1(a))."""

    period = models.ForeignKey(ReportingPeriod, on_delete=models.CASCADE, related_name="segments")
    first_day = models.DateField()
    last_day = models.DateField()
    power_kw = models.DecimalField(
        max_digits=12, decimal_places=3, validators=[MinValueValidator(0)]
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["period", "first_day"]
        verbose_name = "PDIT segment"

    def __str__(self) -> str:
        return f"{self.first_day}–{self.last_day}: {self.power_kw} kW"

    def clean(self):
        if self.first_day and self.last_day and self.first_day > self.last_day:
            raise ValidationError({"last_day": "The segment ends before it starts."})


class InstrumentKind(models.TextChoices):
    GO = "go", "Guarantees of origin retired"
    PPA = "ppa", "PPA energy delivered"
    ONSITE = "onsite", "On-site generation"


class RenewableInstrument(models.Model):
    """A renewable-energy instrument of a period (Annex II 1(o)-(r))."""

    period = models.ForeignKey(
        ReportingPeriod, on_delete=models.CASCADE, related_name="instruments"
    )
    kind = models.CharField(max_length=8, choices=InstrumentKind.choices)
    volume_kwh = models.DecimalField(
        max_digits=20,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="On-site: leave empty to take the renewable-onsite meters",
    )
    retired_by_this_dc = models.BooleanField(default=True, help_text="GO: retired by this DC")
    gos_not_owned_kwh = models.DecimalField(
        "GOs not owned (kWh)",
        max_digits=20,
        decimal_places=3,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="PPA/on-site: energy whose GOs were sold or not retired by this DC",
    )
    certificate_ids = models.TextField(blank=True)
    note = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["period", "kind", "id"]
        verbose_name = "renewable instrument"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.volume_kwh or 'metered'} kWh"

    def clean(self):
        if self.volume_kwh is None and self.kind != InstrumentKind.ONSITE:
            raise ValidationError({"volume_kwh": "Only on-site generation may come from meters."})
        if self.volume_kwh is not None and self.gos_not_owned_kwh > self.volume_kwh:
            raise ValidationError({"gos_not_owned_kwh": "Exceeds the instrument's volume."})


# --- Germany: EnEfG exemptions and management systems ------------------------------------------


class ExemptionGround(models.TextChoices):
    # EnEfG §11(3) S. 1 Nr. 1-3 lift the ERF duty; §12(4) the duty of §12(1); §12(6) §12(1)-(3).
    ERF_LATER_EVENTS = "11-3-1", "§11(3) Nr. 1: reused share fell later, without fault"
    ERF_AGREEMENT = "11-3-2", "§11(3) Nr. 2: waste-heat agreement with municipality or network"
    ERF_OFFER_DECLINED = "11-3-3", "§11(3) Nr. 3: heat offered at cost, not taken in six months"
    EMS_HEAT_NETWORK = "12-4", "§12(4): ≥ 50 % reused via a heat network, ≤ 7.5 GWh a year"
    DECOMMISSIONING = "12-6", "§12(6): planned out of operation before 1 July 2027"


class EnefgExemption(models.Model):
    """An EnEfG exemption the operator proves for a reporting period: its ground, the dates it
    holds and the document that proves it (EnEfG §11(3): "wenn der Betreiber ... nachweist")."""

    period = models.ForeignKey(
        "ReportingPeriod", on_delete=models.CASCADE, related_name="enefg_exemptions"
    )
    ground = models.CharField(max_length=8, choices=ExemptionGround.choices)
    valid_from = models.DateField(null=True, blank=True, help_text="Blank: from the start")
    valid_until = models.DateField(
        null=True,
        blank=True,
        help_text="Blank: open-ended. §12(6): the planned end of operation.",
    )
    document = models.CharField(
        max_length=300, help_text="The proof: agreement, offer, plan (reference or file name)"
    )
    note = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["period", "ground", "valid_from"]
        verbose_name = "EnEfG exemption"

    def __str__(self) -> str:
        return f"{self.period} {self.get_ground_display()}"

    @property
    def site(self) -> Site:
        return self.period.site

    def clean(self):
        errors = {}
        if not (self.document or "").strip():
            errors["document"] = "Name the document that proves the exemption."
        if self.valid_from and self.valid_until and self.valid_from > self.valid_until:
            errors["valid_until"] = "Ends before it starts."
        if self.ground == ExemptionGround.DECOMMISSIONING and not (
            self.valid_until and self.valid_until < enefg.DECOMMISSION_BEFORE
        ):
            errors["valid_until"] = (
                "§12(6) holds for a planned end of operation before 1 July 2027: enter that "
                "date here."
            )
        if errors:
            raise ValidationError(errors)

    def as_rule(self) -> enefg.Exemption:
        return enefg.Exemption(self.ground, self.valid_from, self.valid_until, self.document)


class SystemKind(models.TextChoices):
    # EnEfG §3 Nr. 16 and 17/29
    ENERGY = "iso-50001", "Energy management system (DIN EN ISO 50001)"
    EMAS = "emas", "Environmental management system (EMAS)"


class SystemState(models.TextChoices):
    IN_PLACE = enefg.IN_PLACE, "In place"
    VALIDATED = enefg.VALIDATED, "Validated (EMAS, by an environmental verifier)"
    CERTIFIED = enefg.CERTIFIED, "Certified (ISO 50001, by a certification body)"


class ManagementSystem(models.Model):
    """A site's energy or environmental management system from a date (EnEfG §12): in place,
    then validated (EMAS) or certified (ISO 50001). No row in effect on a day: none."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="management_systems")
    kind = models.CharField(max_length=10, choices=SystemKind.choices)
    state = models.CharField(max_length=10, choices=SystemState.choices)
    since = models.DateField(help_text="In place, validated or certified from this day")
    valid_until = models.DateField(
        null=True, blank=True, help_text="Certificate or registration end; blank: open-ended"
    )
    document = models.CharField(
        max_length=300, help_text="Certificate, EMAS registration or management manual"
    )
    body = models.CharField(
        "certifier or verifier", max_length=200, blank=True, help_text="Validated or certified by"
    )
    note = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["site__code", "since"]
        verbose_name = "energy or environmental management system"

    def __str__(self) -> str:
        return f"{self.site} {self.get_kind_display()} {self.get_state_display()} {self.since}"

    def clean(self):
        errors = {}
        if self.state == SystemState.CERTIFIED and self.kind != SystemKind.ENERGY:
            errors["state"] = "EMAS is validated, not certified."
        if self.state == SystemState.VALIDATED and self.kind != SystemKind.EMAS:
            errors["state"] = "An ISO 50001 system is certified, not validated."
        if self.state != SystemState.IN_PLACE and not (self.body or "").strip():
            errors["body"] = "Name who validated or certified it."
        if not (self.document or "").strip():
            errors["document"] = "Name the certificate, registration or manual."
        if self.since and self.valid_until and self.since > self.valid_until:
            errors["valid_until"] = "Ends before it starts."
        if errors:
            raise ValidationError(errors)

    def as_rule(self) -> enefg.ManagementSystem:
        return enefg.ManagementSystem(
            self.kind, self.state, self.since, self.valid_until, self.document
        )


# --- meters and readings -----------------------------------------------------------------------


class Quantity(models.TextChoices):
    # The measurement-point register (2024/1364 Annex II; docs/eu-reporting.md §4.1)
    EDC_SUPPLY = "edc-supply", "EDC: grid supply (before transfer switchgear)"
    EDC_BACKUP_GENERATOR = "edc-backup-generator", "EDC and EDC-BG: back-up generator"
    EDC_FUEL = "edc-fuel", "EDC: fuel or other energy for cooling"
    EIT_UPS_OUTPUT = "eit-ups-output", "EIT: UPS output (category 1)"
    EIT_PDU = "eit-pdu", "EIT: PDU output (no UPS)"
    WATER_TOTAL = "water-total", "WIN: water input"
    WATER_POTABLE = "water-potable", "WIN-POT: potable water input"
    WATER_FRESH = "water-fresh", "WIN-FRE: freshwater input (2026 act)"
    GRID_PURCHASE = "grid-purchase", "DE EGRID: electricity purchased from the grid"
    GRID_FEED_IN = "grid-feed-in", "DE EFEED: electricity fed back into the grid"
    OWN_GENERATION = "own-generation", "DE EOWN: own electricity generation"
    HEAT_RELEASE_AIR = "heat-release-air", "DE WH-AIR: waste heat released to air"
    HEAT_RELEASE_WATER = "heat-release-water", "DE WH-WATER: waste heat released to water"
    HEAT_RELEASE_GROUND = "heat-release-ground", "DE WH-GROUND: waste heat released to ground"
    HEAT_UPGRADE = (
        "heat-upgrade",
        "DE EUPGRADE: electricity only for upgrading waste heat (EnEfG §11(2) S. 3)",
    )
    HEAT_EXPORT = "heat-export", "EREUSE: heat handed over at the boundary"
    HEAT_INTERNAL_REUSE = "heat-internal-reuse", "EREUSE: exported heat used to cool the DC"
    RENEWABLE_ONSITE = "renewable-onsite", "ERES-OS: on-site renewable generation"
    OTHER = "other", "Other (not used in the indicators)"


class MeterUnit(models.TextChoices):
    WH = "Wh", "Wh"
    KWH = "kWh", "kWh"
    MWH = "MWh", "MWh"
    GJ = "GJ", "GJ"
    L = "L", "litre"
    M3 = "m3", "m³"


ENERGY_UNITS = {"Wh", "kWh", "MWh", "GJ"}
WATER_UNITS = {"L", "m3"}
WATER_QUANTITIES = {Quantity.WATER_TOTAL, Quantity.WATER_POTABLE, Quantity.WATER_FRESH}


class Register(models.TextChoices):
    CUMULATIVE = "cumulative", "Cumulative counter (reading at the timestamp)"
    INTERVAL = "interval", "Interval consumption (timestamp = end of interval)"


class MeasurementPoint(models.Model):
    """A meter: where a quantity is measured (Annex II: keep the register ≥ 10 years)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="measurement_points")
    code = models.CharField(max_length=64, unique=True, validators=[METER_CODE])
    quantity = models.CharField(max_length=24, choices=Quantity.choices)
    unit = models.CharField(max_length=4, choices=MeterUnit.choices)
    register = models.CharField(max_length=10, choices=Register.choices)
    multiplier = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        default=1,
        validators=[MinValueValidator(0)],
        help_text="CT/pulse ratio, or calorific value for a fuel metered in its own unit",
    )
    interval_minutes = models.PositiveSmallIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )
    device_id = models.CharField(max_length=100, blank=True)
    location = models.CharField(max_length=200, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["site__code", "code"]
        verbose_name = "measurement point"
        indexes = [models.Index(fields=["site", "quantity"], name="meter_site_quantity")]

    def __str__(self) -> str:
        return self.code

    def clean(self):
        errors = {}
        if self.quantity in WATER_QUANTITIES and self.unit not in WATER_UNITS:
            errors["unit"] = "Water is metered in L or m3."
        energy = self.quantity not in WATER_QUANTITIES and self.quantity != Quantity.OTHER
        if self.quantity and energy and self.unit in WATER_UNITS:
            errors["unit"] = "Energy is metered in Wh, kWh, MWh or GJ."
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            errors["valid_to"] = "Must be after valid_from."
        errors.update(self._history_kept())
        errors.update(self._site_kept())
        errors.update(self._archived_days_kept())
        if errors:
            raise ValidationError(errors)

    def _site_kept(self) -> dict[str, str]:
        """A meter's readings are its site's history (its periods, submitted ones included):
        moving the meter would move them to another site. Installed elsewhere, it is a new
        meter there."""
        if self.pk is None or self.site_id is None:
            return {}
        stored = MeasurementPoint.objects.filter(pk=self.pk).values("site_id", "site__code").first()
        if not stored or stored["site_id"] == self.site_id:
            return {}
        count = Reading.objects.filter(meter_id=self.pk).count() or archived_readings([self.pk])
        if not count:
            return {}
        return {
            "site": f"{count} reading(s) of this meter belong to {stored['site__code']}'s "
            "periods; moving the meter would move them to another site: a meter installed "
            "elsewhere is a new meter there."
        }

    def _archived_days_kept(self) -> dict[str, str]:
        """Moved to a site in another time zone, the meter's rollups are rebuilt from its
        readings: archived ones would lose theirs (restore them first)."""
        if self.pk is None or self.site_id is None:
            return {}
        stored = MeasurementPoint.objects.filter(pk=self.pk).values("site__time_zone").first()
        target = Site.objects.filter(pk=self.site_id).values_list("time_zone", flat=True).first()
        if not stored or stored["site__time_zone"] == target:
            return {}
        count = archived_readings([self.pk])
        if not count:
            return {}
        return {"site": archived_message(count, "moving the meter to a site in another time zone")}

    def _history_kept(self) -> dict[str, str]:
        """A meter's readings were taken with its settings: changing them would rewrite the
        past. A change from a date on is a new `MeterSetting` interval instead."""
        if self.pk is None:
            return {}
        stored = MeasurementPoint.objects.filter(pk=self.pk).values(*HISTORY_FIELDS).first()
        changed = [f for f in HISTORY_FIELDS if stored and stored[f] != getattr(self, f)]
        if not changed:
            return {}
        count = Reading.objects.filter(meter_id=self.pk).count()
        if not count:  # its readings may be archived: their daily rollups still compute them
            count = archived_readings([self.pk])
        if not count:
            return {}
        path = {
            "unit": "add a setting interval (valid from the change) instead",
            "multiplier": "add a setting interval (valid from the change) instead",
            "quantity": "a meter measuring something else is a new meter",
            "register": "a meter with another register is a new meter (close this one)",
            "interval_minutes": "a meter read at another interval is a new meter (close this one)",
        }
        return {
            name: f"{count} reading(s) were taken with {name} {stored[name]}; changing it would "
            f"rewrite them: {path[name]}."
            for name in changed
        }

    def settings_at(self, intervals=None) -> list[tuple[datetime | None, str, Decimal]]:
        """(valid_from, unit, multiplier) in time order: the meter's own settings from the
        start, then each interval's from its valid_from (readings after it use it).
        `intervals`: the meter's `MeterSetting` rows when already read (many meters at once)."""
        timeline: list[tuple[datetime | None, str, Decimal]] = [(None, self.unit, self.multiplier)]
        if intervals is None:
            intervals = self.setting_intervals.all()
        for setting in sorted(intervals, key=lambda s: s.valid_from):
            timeline.append((setting.valid_from, setting.unit, setting.multiplier))
        return timeline


# The fields a reading is interpreted with.
def archived_readings(meter_ids) -> int:
    """How many readings of these meters are archived (`archive_readings`): counted in their
    daily rollups, no longer in the readings table."""
    ids = list(meter_ids)
    if not ids:
        return 0
    counted = ReadingDay.objects.filter(meter_id__in=ids).aggregate(n=models.Sum("readings"))
    present = Reading.objects.filter(meter_id__in=ids).count()
    return max(0, (counted["n"] or 0) - present)


def archived_message(count: int, change: str) -> str:
    return (
        f"{count} reading(s) are archived (counted in the daily rollups, not in the readings "
        f"table): {change} would move their day boundaries while they are out of the database "
        "and drop their rollups; restore them first (archive_readings --restore YEAR)."
    )


# interval_minutes too: the past's coverage and gap filling are counted in its slots.
HISTORY_FIELDS = ("quantity", "unit", "register", "multiplier", "interval_minutes")


class MeterSetting(models.Model):
    """A meter's unit and multiplier from `valid_from` on (CT ratio changed, meter replaced).

    Readings taken up to `valid_from` keep the earlier settings; the computation applies each
    interval's to the readings inside it.
    """

    meter = models.ForeignKey(
        MeasurementPoint, on_delete=models.PROTECT, related_name="setting_intervals"
    )
    valid_from = models.DateTimeField(
        help_text="Readings after this instant use these settings; readings up to it do not"
    )
    unit = models.CharField(max_length=4, choices=MeterUnit.choices)
    multiplier = models.DecimalField(
        max_digits=14, decimal_places=6, validators=[MinValueValidator(0)]
    )
    reason = models.CharField(max_length=200, help_text="e.g. CT ratio 400/5 → 800/5")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["meter", "valid_from"]
        verbose_name = "meter setting interval"
        constraints = [
            models.UniqueConstraint(fields=["meter", "valid_from"], name="meter_setting_once")
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} from {self.valid_from:%Y-%m-%dT%H:%M%z}"

    def clean(self):
        errors = {}
        quantity = self.meter.quantity if self.meter_id else None
        if quantity in WATER_QUANTITIES and self.unit not in WATER_UNITS:
            errors["unit"] = "Water is metered in L or m3."
        if quantity and quantity not in WATER_QUANTITIES and self.unit in WATER_UNITS:
            errors["unit"] = "Energy is metered in Wh, kWh, MWh or GJ."
        if not (self.reason or "").strip():
            errors["reason"] = "Say why the settings changed (CT ratio, meter replaced …)."
        # Intervals follow one another: one dated before the latest would slip under it and
        # reread readings already read with the settings before it (import_meters refuses it too).
        latest = (
            MeterSetting.objects.filter(meter_id=self.meter_id)
            .exclude(pk=self.pk)
            .order_by("-valid_from")
            .values_list("valid_from", flat=True)
            .first()
            if self.meter_id and self.valid_from
            else None
        )
        if latest is not None and self.valid_from < latest:
            errors["valid_from"] = f"before the latest interval ({latest.isoformat()})"
        if errors:
            raise ValidationError(errors)


class Reading(models.Model):
    """One meter reading, as metered (the meter's unit, multiplier not applied).

    The primary key is (meter, timestamp): no surrogate id. On PostgreSQL the table is
    partitioned by month on timestamp (reporting.partitions); on SQLite it is one table.
    """

    # The (meter, timestamp) key is also the index the computation scans (one meter, a time
    # range, in time order), so the meter has no index of its own; and no database foreign key:
    # a per-row constraint trigger would cost every bulk load while ingest already refuses
    # unknown meters and PROTECT refuses deleting a meter with readings.
    pk = models.CompositePrimaryKey("meter", "timestamp")
    meter = models.ForeignKey(
        MeasurementPoint,
        on_delete=models.PROTECT,
        related_name="readings",
        db_index=False,
        db_constraint=False,
    )
    timestamp = models.DateTimeField()
    value = models.DecimalField(max_digits=20, decimal_places=6)

    class Meta:
        ordering = ["meter_id", "timestamp"]
        verbose_name = "reading"

    def __str__(self) -> str:
        return f"{self.meter_id}@{self.timestamp:%Y-%m-%dT%H:%M%z}={self.value}"


class ReadingDay(models.Model):
    """A daily rollup of one meter's readings: what the computation needs from a local day.

    The day is the site's local day a reading belongs to: an interval reading to the day its
    interval starts in (local midnight < timestamp <= next midnight), a counter reading to the
    day of its instant (midnight <= timestamp < next midnight). Values are as metered (no unit
    or multiplier: those are applied at computation time, so settings changes never touch
    rollups). Sums are exact integers in micro-units (10⁻⁶ of the metered unit). Rebuilt from
    the readings by every writer (`reporting.rollups`), and by `manage.py rebuild_rollups`.
    """

    meter = models.ForeignKey(
        MeasurementPoint,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    day = models.DateField(help_text="Local day (site time zone)")
    readings = models.PositiveIntegerField(help_text="Readings in the day")
    total_micro = models.DecimalField(
        max_digits=38, decimal_places=0, help_text="Sum of the values, micro-units"
    )
    first_at = models.DateTimeField()
    first_value = models.DecimalField(max_digits=20, decimal_places=6)
    last_at = models.DateTimeField()
    last_value = models.DecimalField(max_digits=20, decimal_places=6)
    rise_micro = models.DecimalField(
        max_digits=38,
        decimal_places=0,
        help_text="Counter: consumption between consecutive readings of the day (a decrease "
        "counts the new reading from zero), micro-units",
    )
    decreases = models.PositiveIntegerField(help_text="Counter decreases inside the day")
    max_gap_s = models.FloatField(
        null=True, help_text="Longest pause between consecutive readings of the day, seconds"
    )

    class Meta:
        ordering = ["meter_id", "day"]
        verbose_name = "daily reading rollup"
        constraints = [models.UniqueConstraint(fields=["meter", "day"], name="reading_day_once")]

    def __str__(self) -> str:
        return f"{self.meter_id}@{self.day}: {self.readings} reading(s)"


class ReadingRevision(models.Model):
    """A stored reading replaced by an explicit `--replace` ingest: the old value is kept."""

    meter = models.ForeignKey(MeasurementPoint, on_delete=models.PROTECT, related_name="+")
    timestamp = models.DateTimeField()
    old_value = models.DecimalField(max_digits=20, decimal_places=6)
    new_value = models.DecimalField(max_digits=20, decimal_places=6)
    replaced_at = models.DateTimeField(auto_now_add=True)
    job = models.ForeignKey(
        "IngestJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="revisions"
    )
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["meter_id", "timestamp", "id"]
        verbose_name = "reading revision"
        indexes = [models.Index(fields=["meter", "timestamp"], name="revision_meter_time")]

    def __str__(self) -> str:
        return f"{self.meter_id}@{self.timestamp}: {self.old_value} → {self.new_value}"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    REJECTED = "rejected", "Rejected (nothing written)"
    FAILED = "failed", "Failed"


class IngestJob(models.Model):
    """One readings file ingested (synchronously or by a task), with its report.

    A queued file follows the job lifecycle of circulus.jobs (pending = queued).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    source = models.CharField(max_length=200, blank=True, help_text="File name or channel")
    file = models.FileField(upload_to="ingest/", blank=True)
    replace = models.BooleanField(default=False)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    bytes_total = models.BigIntegerField(default=0)
    rows = models.BigIntegerField(default=0)
    inserted = models.BigIntegerField(default=0)
    unchanged = models.BigIntegerField(default=0)
    replaced = models.BigIntegerField(default=0)
    conflicts = models.JSONField(default=dict, blank=True, help_text="{'total': n, 'shown': []}")
    errors = models.JSONField(default=dict, blank=True, help_text="{'total': n, 'shown': []}")
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
        ordering = ["-created_at"]
        verbose_name = "ingest job"

    def __str__(self) -> str:
        return f"{self.source or self.id} ({self.status})"


class TaskRun(models.Model):
    """A queued computation, so its state can be polled even when tasks run eagerly; it follows
    the job lifecycle of circulus.jobs (pending = queued)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    period = models.ForeignKey(
        ReportingPeriod, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    site_code = models.CharField(max_length=20, blank=True, help_text="A year run of one site")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # The job lifecycle shared by every kind (circulus.jobs): attempts, worker, heartbeat.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the last attempt")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life: queued, claimed or beating"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "task run"

    def __str__(self) -> str:
        return f"{self.name} {self.id} ({self.status})"


class PeriodResult(models.Model):
    """The computed Annex II inputs and Annex III indicators of a period, with their evidence."""

    period = models.OneToOneField(ReportingPeriod, on_delete=models.CASCADE, related_name="result")
    inputs = models.JSONField(help_text="{symbol: {value, unit, quality, source, …}}")
    indicators = models.JSONField(help_text="{PUE|WUE|ERF|REF|CUE|ERE: value or null}")
    monthly = models.JSONField(help_text="[{month, EDC, EIT, WIN, EREUSE, PUE, WUE, ERF}]")
    coverage = models.JSONField(help_text="{meter code: {expected, present, pct, gaps, resets}}")
    findings = models.JSONField(
        help_text="validation findings: [{rule_id, severity, fields, message}]"
    )
    code_version = models.CharField(max_length=40)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the stored content")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["period"]
        verbose_name = "period result"

    def __str__(self) -> str:
        return f"Result of {self.period}"

    @property
    def errors(self) -> list[dict]:
        return [f for f in self.findings if f["severity"] == "error"]

    @property
    def warnings(self) -> list[dict]:
        return [f for f in self.findings if f["severity"] == "warning"]


WITHHELD = (
    "Blank: withheld (the group has fewer than three data centres) or not reported by every "
    "data centre of the group (never counted as 0)"
)


class AggregateResult(models.Model):
    """Annex IV figures for a year: scope EU or a Member State, group all/type:*/size:*."""

    year = models.PositiveSmallIntegerField()
    scope = models.CharField(max_length=2, help_text="EU, or an ISO country code")
    group = models.CharField(max_length=24)
    n_sites = models.PositiveIntegerField()
    total_pdit_kw = models.DecimalField(
        max_digits=24, decimal_places=6, null=True, blank=True, help_text=WITHHELD
    )
    total_edc_kwh = models.DecimalField(
        max_digits=24, decimal_places=6, null=True, blank=True, help_text=WITHHELD
    )
    total_win_m3 = models.DecimalField(
        max_digits=24, decimal_places=6, null=True, blank=True, help_text=WITHHELD
    )
    averages = models.JSONField(help_text="{KPI: {value, n_sites, suppressed, reason}}")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["year", "scope", "group"]
        verbose_name = "Annex IV aggregate"
        constraints = [
            models.UniqueConstraint(fields=["year", "scope", "group"], name="aggregate_unique")
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.scope} {self.group}"
