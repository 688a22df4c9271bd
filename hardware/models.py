"""The hardware catalogue: reference *models* of hardware (not units) with their sources."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce
from simple_history.models import HistoricalRecords

from hardware.invariants import (
    COMPONENT_KINDS,
    MASS_FIELDS,
    MATERIAL_FIELDS,
    Problem,
    catalogue_problems,
    entry_problems,
)
from hardware.naming import model_name

NON_NEGATIVE = [MinValueValidator(Decimal("0"))]


class Manufacturer(models.Model):
    """A maker of hardware (NVIDIA, Dell, HPE …)."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    website = models.URLField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "manufacturer"

    def __str__(self) -> str:
        return self.name


class HardwareKind(models.TextChoices):
    SERVER = "server", "Server"
    ACCELERATOR = "accelerator", "Accelerator / GPU"
    CPU = "cpu", "CPU"
    MEMORY = "memory", "Memory module"
    SSD = "ssd", "SSD"
    HDD = "hdd", "HDD"
    SWITCH = "switch", "Network switch"
    PSU = "psu", "Power supply"
    CHASSIS = "chassis", "Chassis"
    OTHER = "other", "Other"


class WeeeCategory(models.TextChoices):
    # Directive 2012/19/EU Annex III: 4 = any external dimension > 50 cm; 6 = none > 50 cm.
    LARGE = "4", "4 – large equipment (> 50 cm)"
    SMALL_IT = "6", "6 – small IT and telecom (≤ 50 cm)"


class SoftwareStack(models.TextChoices):
    CUDA = "cuda", "CUDA"
    ROCM = "rocm", "ROCm"
    OTHER = "other", "Other"


def validate_specs(value) -> None:
    """Further specs are named figures: an object such as {"nvlink": true, "pcie_gen": 4}."""
    if not isinstance(value, dict):
        raise ValidationError(
            'Give further specs as an object of names and values, e.g. {"pcie_gen": 4}.',
            code="not_an_object",
        )


def _decimal(max_digits: int, places: int, **kwargs) -> models.DecimalField:
    return models.DecimalField(
        max_digits=max_digits,
        decimal_places=places,
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        **kwargs,
    )


ACCELERATOR_FIELDS = (
    "memory_gb",
    "memory_bandwidth_gbps",
    "fp16_tflops",
    "bf16_tflops",
    "int8_tops",
    "compute_capability",
    "supports_bf16",
    "supports_fp8",
    "devices_per_package",
)


class HardwareModel(models.Model):
    """A catalogue entry: one hardware model with specs, mass, embodied impacts and composition.

    Every figure may carry a `FigureSource` row naming where it came from.
    """

    manufacturer = models.ForeignKey(Manufacturer, on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=150, unique=True)
    kind = models.CharField(max_length=20, choices=HardwareKind.choices, db_index=True)
    part_number = models.CharField(max_length=100, blank=True, db_index=True)
    form_factor = models.CharField(max_length=50, blank=True, help_text="e.g. 1U, 2U, SXM4, PCIe")
    release_year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1980), MaxValueValidator(2100)]
    )
    mass_kg = _decimal(9, 3, verbose_name="mass (kg)")
    # The range of a mass that is a class-typical estimate (blank when the mass is one unit's).
    mass_min_kg = _decimal(9, 3, verbose_name="mass min (kg)")
    mass_max_kg = _decimal(9, 3, verbose_name="mass max (kg)")
    tdp_w = _decimal(8, 1, verbose_name="nominal / TDP power (W)")
    holds_data = models.BooleanField(
        default=False, help_text="Stores user data: must be sanitised before leaving custody."
    )
    weee_category = models.CharField(
        max_length=1, choices=WeeeCategory.choices, blank=True, verbose_name="default WEEE category"
    )
    capacity_gb = _decimal(10, 1, verbose_name="capacity (GB)", help_text="Memory modules, drives")
    accelerator_slots = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Servers: accelerators it holds"
    )

    # Accelerator specs (feed the reuse matching).
    memory_gb = _decimal(7, 1, verbose_name="accelerator memory (GB)")
    memory_bandwidth_gbps = _decimal(8, 1, verbose_name="memory bandwidth (GB/s)")
    fp16_tflops = _decimal(8, 1, verbose_name="FP16 dense (TFLOPS)")
    bf16_tflops = _decimal(8, 1, verbose_name="BF16 dense (TFLOPS)")
    int8_tops = _decimal(8, 1, verbose_name="INT8 dense (TOPS)")
    architecture = models.CharField(max_length=50, blank=True)
    compute_capability = models.CharField(
        max_length=20, blank=True, help_text="CUDA compute capability (8.0) or AMD target (gfx90a)"
    )
    supports_bf16 = models.BooleanField(null=True, blank=True)
    supports_fp8 = models.BooleanField(null=True, blank=True)
    software_stack = models.CharField(max_length=10, choices=SoftwareStack.choices, blank=True)
    devices_per_package = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Logical devices per board (MI250: 2 GCDs)"
    )

    # Embodied impacts (cradle-to-gate).
    embodied_gwp_kgco2e = _decimal(10, 1, verbose_name="embodied GWP (kgCO2e)")
    embodied_gwp_min_kgco2e = _decimal(10, 1, verbose_name="embodied GWP min (kgCO2e)")
    embodied_gwp_max_kgco2e = _decimal(10, 1, verbose_name="embodied GWP max (kgCO2e)")
    lifetime_years = _decimal(4, 1, verbose_name="assumed lifetime (years)")

    # Material composition, grams per unit.
    au_g = _decimal(12, 4, verbose_name="gold (g)")
    ag_g = _decimal(12, 4, verbose_name="silver (g)")
    pd_g = _decimal(12, 4, verbose_name="palladium (g)")
    cu_g = _decimal(12, 2, verbose_name="copper (g)")
    co_g = _decimal(12, 4, verbose_name="cobalt (g)")
    ta_g = _decimal(12, 4, verbose_name="tantalum (g)")
    nd_g = _decimal(12, 4, verbose_name="neodymium (g)")
    al_g = _decimal(12, 2, verbose_name="aluminium (g)")
    steel_g = _decimal(12, 2, verbose_name="steel (g)")
    plastics_g = _decimal(12, 2, verbose_name="plastics (g)")

    specs = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_specs],
        help_text="Further kind-specific specs, as an object of names and values",
    )
    notes = models.TextField(blank=True)
    # What `load_catalogue` last wrote, per column; a value that differs was edited by an operator.
    catalogue_values = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["manufacturer__name", "name"]
        verbose_name = "hardware model"
        constraints = [
            models.UniqueConstraint(fields=["manufacturer", "name"], name="hw_model_unique_name"),
            models.CheckConstraint(
                condition=models.Q(mass_kg__isnull=True) | models.Q(mass_kg__gte=0),
                name="hw_model_mass_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(tdp_w__isnull=True) | models.Q(tdp_w__gte=0),
                name="hw_model_tdp_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="accelerator") | models.Q(memory_gb__isnull=True),
                name="hw_model_memory_only_on_accelerators",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=[c.value for c in HardwareKind]),
                name="hw_model_kind_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "memory_gb"], name="hw_model_kind_mem"),
            models.Index(fields=["release_year"], name="hw_model_year"),
        ]

    def __str__(self) -> str:
        return model_name(str(self.manufacturer), self.name)

    def clean(self) -> None:
        errors = self.entry_errors()
        for problem in self.problems_with_the_catalogue():
            errors.setdefault(problem.field, problem.rule)
        if errors:
            raise ValidationError(errors)

    def entry_errors(self) -> dict[str, str]:
        """The rules this entry keeps on its own (`load_catalogue` checks the rest at once)."""
        errors: dict[str, str] = {}
        if self.kind != HardwareKind.ACCELERATOR:
            for field in ACCELERATOR_FIELDS:
                if getattr(self, field) not in (None, ""):
                    errors[field] = "Only accelerators carry this figure."
        for problem in entry_problems(self.slug or self.name, vars(self)):
            errors.setdefault(problem.field, problem.rule)
        return errors

    def problems_with_the_catalogue(self) -> list:
        """The rules between entries that this one would break as stored beside the others: a
        component outweighing the lightest server, or a server lighter than a component."""
        if self.kind != HardwareKind.SERVER and self.kind not in COMPONENT_KINDS:
            return []
        others = HardwareModel.objects.exclude(pk=self.pk).filter(mass_kg__isnull=False)
        fields = ("slug", "kind", *MASS_FIELDS)
        heaviest = Coalesce("mass_max_kg", "mass_kg")
        neighbours = [
            *others.filter(kind=HardwareKind.SERVER).order_by("mass_kg").values(*fields)[:1],
            *others.filter(kind__in=COMPONENT_KINDS).order_by(heaviest.desc()).values(*fields)[:1],
        ]
        before = catalogue_problems({n["slug"]: n for n in neighbours})
        slug = self.slug or self.name
        after = catalogue_problems({n["slug"]: n for n in neighbours} | {slug: vars(self)})
        problems = [p for p in after if p not in before]
        return [p for p in problems if p.entry == slug] or [
            # This server is now the lightest, and a component outweighs it.
            Problem(slug, "mass_kg", f"{p.entry}: {p.rule}")
            for p in problems
        ]

    @property
    def is_accelerator(self) -> bool:
        return self.kind == HardwareKind.ACCELERATOR


# The figures a source can be attached to.
SOURCED_FIELDS = (
    "mass_kg",
    "mass_min_kg",
    "mass_max_kg",
    "tdp_w",
    "release_year",
    "capacity_gb",
    *ACCELERATOR_FIELDS,
    "embodied_gwp_kgco2e",
    "embodied_gwp_min_kgco2e",
    "embodied_gwp_max_kgco2e",
    "lifetime_years",
    *MATERIAL_FIELDS,
    "weee_category",
)


class Source(models.Model):
    """A citation: publication, datasheet, dataset or measurement report."""

    citation = models.CharField(max_length=500)
    url = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["citation"]
        verbose_name = "source"
        constraints = [
            models.UniqueConstraint(fields=["citation", "url"], name="source_unique_citation_url")
        ]

    def __str__(self) -> str:
        return self.citation


class Basis(models.TextChoices):
    MEASURED = "measured", "Measured"
    DECLARED = "declared", "Declared by the maker"
    ESTIMATED = "estimated", "Estimated"


class Confidence(models.TextChoices):
    # How far a figure was checked: confirmed, derived, low-authority, unconfirmed (C/D/L/U).
    CONFIRMED = "confirmed", "Confirmed in the source"
    DERIVED = "derived", "Derived from confirmed inputs"
    LOW = "low", "Low-authority source"
    UNCONFIRMED = "unconfirmed", "Unconfirmed: verify before relying on it"


class FigureSource(models.Model):
    """Where one figure of one hardware model came from, and on what basis.

    Rows written by `load_catalogue` have `from_catalogue` set; the loader never touches the others.
    """

    hardware_model = models.ForeignKey(
        HardwareModel, on_delete=models.CASCADE, related_name="figure_sources"
    )
    field = models.CharField(max_length=40, choices=[(f, f) for f in SOURCED_FIELDS])
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="figures")
    basis = models.CharField(max_length=20, choices=Basis.choices)
    confidence = models.CharField(max_length=20, choices=Confidence.choices, blank=True)
    note = models.CharField(max_length=300, blank=True)
    from_catalogue = models.BooleanField(default=False, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["hardware_model", "field"]
        verbose_name = "figure source"
        constraints = [
            models.UniqueConstraint(
                fields=["hardware_model", "field"], name="figure_source_one_per_field"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hardware_model.slug}.{self.field}: {self.source}"


class DecodeMeasurement(models.Model):
    """A published LLM decode-speed measurement on catalogue hardware, with its source.

    Loaded by `load_catalogue` from hardware/catalogue/decode_measurements.csv, which the reuse
    estimates are fitted to, range_measurements.csv, which no fit reads and which sizes the
    range given with them, and validation_measurements.csv, which nothing reads but the
    independent check of both (docs/reuse.md).
    """

    class Role(models.TextChoices):
        FITTED = "fitted", "fitted"
        VALIDATION = "validation", "independent check (never fitted)"
        RANGE = "range", "sizes the range (never fitted)"

    role = models.CharField(max_length=12, choices=Role.choices, default=Role.FITTED)
    key = models.CharField(max_length=40, help_text="the row's id in its CSV file")
    llm = models.CharField(max_length=100, help_text="slug of the language model")
    params_b = models.DecimalField(max_digits=8, decimal_places=3, validators=NON_NEGATIVE)
    precision = models.CharField(max_length=10)
    bits_per_weight = models.DecimalField(max_digits=5, decimal_places=2)
    hardware_model = models.ForeignKey(
        HardwareModel, on_delete=models.CASCADE, related_name="decode_measurements"
    )
    n_devices = models.PositiveSmallIntegerField()
    interconnect = models.CharField(max_length=20)
    engine = models.CharField(max_length=40)
    concurrency = models.PositiveIntegerField(null=True, blank=True, help_text="blank: unknown")
    context_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_s = models.DecimalField(
        max_digits=12, decimal_places=3, help_text="aggregate decode tokens/s over all streams"
    )
    tokens_per_s_basis = models.CharField(max_length=100, blank=True)
    power_w = models.DecimalField(max_digits=9, decimal_places=1, null=True, blank=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="measurements")
    published = models.CharField(max_length=20, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["hardware_model", "llm", "concurrency", "key"]
        verbose_name = "published decode measurement"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tokens_per_s__gt=0), name="decode_measurement_tokens_positive"
            ),
            models.UniqueConstraint(fields=["role", "key"], name="decode_measurement_once"),
        ]

    def __str__(self) -> str:
        return f"{self.llm} on {self.n_devices} × {self.hardware_model.slug}: {self.tokens_per_s}"
