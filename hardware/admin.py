from django.contrib import admin
from django.db import models
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from circulus.admin import ReadOnlyAdminMixin
from hardware import permissions as policy
from hardware.models import (
    MATERIAL_FIELDS,
    DecodeMeasurement,
    FigureSource,
    HardwareKind,
    HardwareModel,
    Manufacturer,
    Source,
)


class CatalogueAdmin:
    """Model permissions say which pages a role sees; hardware/permissions.py says who writes."""

    # A source or website typed without a scheme is read as https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and policy.can_edit(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and policy.can_edit(request.user)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and policy.can_edit(request.user)

    def revert_disabled(self, request, obj=None):
        return not policy.can_edit(request.user)


@admin.register(Manufacturer)
class ManufacturerAdmin(CatalogueAdmin, SimpleHistoryAdmin):
    list_display = ("name", "slug", "website")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}


class FigureSourceInline(CatalogueAdmin, admin.TabularInline):
    model = FigureSource
    extra = 0
    fields = ("field", "source", "basis", "confidence", "note")
    autocomplete_fields = ("source",)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "field":  # the figure's name and unit, not the column's
            labels = dict(SOURCED_DISPLAY)
            kwargs["choices"] = [("", "---------")] + [
                (value, labels.get(value) or _figure_label(value)) for value, _ in db_field.choices
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


@admin.register(Source)
class SourceAdmin(CatalogueAdmin, admin.ModelAdmin):
    list_display = ("citation", "url")
    search_fields = ("citation", "url")


class ReleaseDecadeFilter(admin.SimpleListFilter):
    title = "release year"
    parameter_name = "year_from"

    def lookups(self, request, model_admin):
        return [(str(y), f"{y} or later") for y in (2016, 2018, 2020, 2022, 2024)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(release_year__gte=int(self.value()))
        return queryset


def _figure_with_source(field: str, label: str):
    """Admin column/readonly field showing a figure with its source beside it."""

    def show(obj):
        value = getattr(obj, field)
        if value in (None, ""):
            return "—"
        src = next((fs for fs in obj.figure_sources.all() if fs.field == field), None)
        if src is None:
            return format_html("{} <small style='color:#a00'>(no source)</small>", value)
        link = (
            format_html(
                "<a href='{}' target='_blank' rel='noopener'>{}</a>",
                src.source.url,
                src.source.citation,
            )
            if src.source.url
            else src.source.citation
        )
        return format_html(
            "{} <small title='{}'>[{} · {}] {}</small>",
            value,
            src.note,
            src.get_basis_display(),
            src.confidence or "?",
            link,
        )

    show.short_description = label
    return show


_UNITS = {"_kg": "kg", "_gb": "GB", "_gbps": "GB/s", "_w": "W", "_years": "years", "_g": "g"}


def _figure_label(field: str) -> str:
    """ "mass_min_kg" → "mass min (kg)", "supports_bf16" → "supports bf16"."""
    for suffix, unit in _UNITS.items():
        if field.endswith(suffix):
            return f"{field.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return field.replace("_", " ")


def _material_label(field: str) -> str:
    name = field.removesuffix("_g")
    return f"{name.capitalize() if len(name) == 2 else name.replace('_', ' ')} (g)"


SOURCED_DISPLAY = [
    ("mass_kg", "mass (kg)"),
    ("tdp_w", "TDP (W)"),
    ("memory_gb", "memory (GB)"),
    ("memory_bandwidth_gbps", "bandwidth (GB/s)"),
    ("fp16_tflops", "FP16 TFLOPS"),
    ("bf16_tflops", "BF16 TFLOPS"),
    ("int8_tops", "INT8 TOPS"),
    ("compute_capability", "compute capability"),
    ("embodied_gwp_kgco2e", "embodied GWP (kgCO2e)"),
    ("embodied_gwp_min_kgco2e", "GWP min"),
    ("embodied_gwp_max_kgco2e", "GWP max"),
    ("lifetime_years", "lifetime (years)"),
    ("weee_category", "WEEE category"),
    # "au_g" → "Au (g)", "plastics_g" → "plastics (g)"
    *[(f, _material_label(f)) for f in MATERIAL_FIELDS],
]
_sourced = {f"src_{f}": _figure_with_source(f, label) for f, label in SOURCED_DISPLAY}


@admin.register(HardwareModel)
class HardwareModelAdmin(CatalogueAdmin, SimpleHistoryAdmin):
    list_display = (
        "name",
        "manufacturer",
        "kind",
        "release_year",
        "mass_with_source",
        "tdp_w",
        "memory_gb",
        "embodied_gwp_kgco2e",
    )
    list_filter = ("kind", "manufacturer", ReleaseDecadeFilter, "release_year", "weee_category")
    search_fields = ("name", "part_number", "slug")
    list_select_related = ("manufacturer",)
    prepopulated_fields = {"slug": ("name",)}
    inlines = [FigureSourceInline]
    readonly_fields = ("figures_and_sources",)

    class Media:
        css = {"all": ("hardware/admin.css",)}  # the form fits 1,366 px

    fieldsets = (
        (
            None,
            {
                "fields": (
                    "manufacturer",
                    "name",
                    "slug",
                    "kind",
                    "part_number",
                    "form_factor",
                    "release_year",
                    "holds_data",
                    "weee_category",
                    "notes",
                )
            },
        ),
        (
            "Physical",
            {
                "fields": (
                    ("mass_min_kg", "mass_kg", "mass_max_kg"),
                    "tdp_w",
                    "capacity_gb",
                    "accelerator_slots",
                )
            },
        ),
        (
            "Accelerator",
            {
                "classes": ("collapse",),
                "fields": (
                    "memory_gb",
                    "memory_bandwidth_gbps",
                    "fp16_tflops",
                    "bf16_tflops",
                    "int8_tops",
                    "architecture",
                    "compute_capability",
                    "supports_bf16",
                    "supports_fp8",
                    "software_stack",
                    "devices_per_package",
                ),
            },
        ),
        (
            "Embodied impacts",
            {
                "fields": (
                    "embodied_gwp_kgco2e",
                    "embodied_gwp_min_kgco2e",
                    "embodied_gwp_max_kgco2e",
                    "lifetime_years",
                )
            },
        ),
        ("Material composition (g per unit)", {"fields": MATERIAL_FIELDS}),
        ("Figures with their sources", {"fields": ("figures_and_sources",)}),
        ("Other specs", {"classes": ("collapse",), "fields": ("specs",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("figure_sources__source")

    @admin.display(description="mass (kg)", ordering="mass_kg")
    def mass_with_source(self, obj):
        return _sourced["src_mass_kg"](obj)

    @admin.display(description="figures")
    def figures_and_sources(self, obj):
        if obj.pk is None:
            return "—"
        rows = [
            (label, _sourced[f"src_{f}"](obj))
            for f, label in SOURCED_DISPLAY
            if getattr(obj, f) not in (None, "")
            and (
                obj.kind == HardwareKind.ACCELERATOR
                or f
                not in {
                    "memory_gb",
                    "memory_bandwidth_gbps",
                    "fp16_tflops",
                    "bf16_tflops",
                    "int8_tops",
                    "compute_capability",
                }
            )
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )


@admin.register(DecodeMeasurement)
class DecodeMeasurementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Published measurements: reference data owned by decode_measurements.csv (fitted),
    range_measurements.csv and validation_measurements.csv (never fitted), read-only here."""

    list_display = (
        "role",
        "hardware_model",
        "n_devices",
        "llm",
        "precision",
        "engine",
        "concurrency",
        "tokens_per_s",
        "power_w",
        "source",
    )
    list_filter = ("role", "engine", "precision", "hardware_model")
    search_fields = ("llm", "key", "source__citation")
    list_select_related = ("hardware_model", "source")
