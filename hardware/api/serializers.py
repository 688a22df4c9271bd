from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from circulus.api import ModelSerializer, ValidatedModelSerializer
from hardware.materials import MATERIALS, unit_content
from hardware.models import Basis, FigureSource, HardwareModel, Manufacturer


class ManufacturerSerializer(ValidatedModelSerializer):
    class Meta:
        model = Manufacturer
        fields = ("id", "name", "slug", "website")


class FigureSourceSerializer(ModelSerializer):
    citation = serializers.CharField(source="source.citation")
    url = serializers.CharField(source="source.url")

    class Meta:
        model = FigureSource
        fields = ("field", "basis", "confidence", "citation", "url", "note")


@extend_schema_field({"type": "object", "additionalProperties": True})
class SpecsField(serializers.JSONField):
    """An object of names and values (the model refuses any other JSON)."""


class HardwareModelSerializer(ValidatedModelSerializer):
    specs = SpecsField(
        required=False, help_text="Further kind-specific specs, as an object of names and values"
    )
    manufacturer = serializers.SlugRelatedField(
        slug_field="slug", queryset=Manufacturer.objects.all()
    )
    sources = FigureSourceSerializer(source="figure_sources", many=True, read_only=True)
    material_content = serializers.SerializerMethodField(
        help_text="Grams per unit of each material: the model's declared figure, else its "
        "equipment class's g/kg × its mass (basis 'estimated'; min and max combine the class "
        "range with the mass range of an estimated mass); null when unknown (no figure and "
        "no mass). The mass's own basis and source are under `sources` (field mass_kg)."
    )

    class Meta:
        model = HardwareModel
        exclude = ("catalogue_values",)
        read_only_fields = ("created_at", "updated_at")

    def get_material_content(self, obj: HardwareModel) -> dict:
        basis = {
            fs.field.removesuffix("_g"): (
                "estimated" if fs.basis == Basis.ESTIMATED else "declared"
            )
            for fs in obj.figure_sources.all()
            if fs.field.endswith("_g")
        }
        declared = {m: getattr(obj, f"{m}_g") for m in MATERIALS}
        content = unit_content(
            obj.kind,
            obj.mass_kg,
            declared,
            basis,
            mass_min_kg=obj.mass_min_kg,
            mass_max_kg=obj.mass_max_kg,
        )
        return {
            m: None
            if c is None
            else {
                "g": str(c.g.quantize(QUANTUM)),
                "min_g": str(c.min_g.quantize(QUANTUM)),
                "max_g": str(c.max_g.quantize(QUANTUM)),
                "basis": c.basis,
                "source": c.source,
            }
            for m, c in content.items()
        }


QUANTUM = Decimal("0.0001")
