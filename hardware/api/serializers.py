from rest_framework import serializers

from circulus.api import ValidatedModelSerializer
from hardware.models import FigureSource, HardwareModel, Manufacturer


class ManufacturerSerializer(ValidatedModelSerializer):
    class Meta:
        model = Manufacturer
        fields = ("id", "name", "slug", "website")


class FigureSourceSerializer(serializers.ModelSerializer):
    citation = serializers.CharField(source="source.citation")
    url = serializers.CharField(source="source.url")

    class Meta:
        model = FigureSource
        fields = ("field", "basis", "confidence", "citation", "url", "note")


class HardwareModelSerializer(ValidatedModelSerializer):
    manufacturer = serializers.SlugRelatedField(
        slug_field="slug", queryset=Manufacturer.objects.all()
    )
    sources = FigureSourceSerializer(source="figure_sources", many=True, read_only=True)

    class Meta:
        model = HardwareModel
        exclude = ("catalogue_values",)
        read_only_fields = ("created_at", "updated_at")
