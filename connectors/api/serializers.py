"""Connector API shapes. No serializer has a credential field: whether a source has credentials
is all anyone reads (`credentials_set`)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from circulus.api import ModelSerializer, Serializer
from connectors import inventory
from connectors.models import MeterFeed, Pull, Source


class MeterFeedSerializer(ModelSerializer):
    meter = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = MeterFeed
        fields = ["meter", "sensor", "sensor_unit"]


class SourceSerializer(ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    credentials_set = serializers.BooleanField(source="has_credentials", read_only=True)
    feeds = MeterFeedSerializer(many=True, read_only=True)

    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "kind",
            "kind_label",
            "endpoint",
            "site",
            "reads_inventory",
            "interval_minutes",
            "timeout_s",
            "verify_tls",
            "enabled",
            "credentials_set",
            "feeds",
        ]
        read_only_fields = fields


class InventoryUnitSerializer(Serializer):
    kind = serializers.CharField()
    serial = serializers.CharField()
    model = serializers.CharField()
    part_number = serializers.CharField()
    manufacturer = serializers.CharField()
    path = serializers.CharField()
    parent_serial = serializers.CharField()
    hardware_model = serializers.CharField(allow_null=True, help_text="catalogue slug matched")
    asset = serializers.CharField(allow_null=True, help_text="asset tag matched by serial")
    action = serializers.ChoiceField(choices=list(inventory.ACTION_LABELS.items()))
    action_label = serializers.SerializerMethodField()

    def get_action_label(self, row) -> str:
        return inventory.ACTION_LABELS[row["action"]]


class MissingUnitSerializer(Serializer):
    asset = serializers.CharField()
    serial = serializers.CharField()
    parent = serializers.CharField()


class DryRunSerializer(Serializer):
    summary = serializers.CharField()
    units = InventoryUnitSerializer(many=True)
    missing = MissingUnitSerializer(many=True)


class PullSerializer(ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    dry_run = serializers.SerializerMethodField()
    applied_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Pull
        fields = [
            "id",
            "source",
            "state",
            "state_label",
            "progress",
            "attempts",
            "outcome",
            "error",
            "log",
            "readings",
            "retry_at",
            "created_at",
            "finished_at",
            "applied_at",
            "applied_by",
            "dry_run",
        ]
        read_only_fields = fields

    @extend_schema_field(DryRunSerializer(allow_null=True))
    def get_dry_run(self, pull):
        if not pull.diff:
            return None
        return {
            "summary": inventory.summary(pull.diff),
            "units": [
                {**u, "action_label": inventory.ACTION_LABELS[u["action"]]}
                for u in pull.diff.get("units", [])
            ],
            "missing": pull.diff.get("missing", []),
        }


class MeasuredRunRequestSerializer(Serializer):
    asset = serializers.CharField(help_text="tag of the accelerator or server measured")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    gpus = serializers.CharField(
        help_text='PromQL label matchers of the GPUs\' DCGM series, e.g. Hostname="gpu-node-1"'
    )
    served = serializers.CharField(
        help_text='PromQL label matchers of the engine\'s series, e.g. model_name="…"'
    )
    precision = serializers.CharField()
    engine = serializers.CharField(default="vllm")
    llm = serializers.CharField(required=False, default="", allow_blank=True)
    context_tokens = serializers.IntegerField(required=False, min_value=1, allow_null=True)
