import datetime as dt

from rest_framework import serializers

from circulus.api import ModelSerializer, Serializer, ValidatedModelSerializer, int_bounds
from circulus.filters import QuerySerializer
from hardware.models import HardwareModel
from registry import audits
from registry.lifecycle import EventKind, State, Workload
from registry.models import Asset, LifecycleEvent, Site


class SiteSerializer(ValidatedModelSerializer):
    class Meta:
        model = Site
        fields = ("id", "code", "name", "country", "time_zone", "sanitisation_policy")


class AssetSerializer(ModelSerializer):
    """An asset as read. `state`, `site`, `parent` and `workload` change only through events."""

    hardware_model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    hardware_kind = serializers.CharField(source="hardware_model.kind", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    parent = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True, allow_null=True)
    mass_kg = serializers.DecimalField(
        max_digits=9, decimal_places=3, read_only=True, allow_null=True
    )
    workload = serializers.ChoiceField(Workload.choices, read_only=True, allow_blank=True)
    last_seen_at = serializers.SerializerMethodField(
        help_text="When a closed audit last saw the unit (blank: never)."
    )
    last_seen_where = serializers.SerializerMethodField(
        help_text='Where it was seen then, e.g. "PAR1, room Hall 1, rack R07".'
    )

    class Meta:
        model = Asset
        fields = (
            "id",
            "asset_tag",
            "serial_number",
            "hardware_model",
            "hardware_kind",
            "site",
            "room",
            "rack",
            "position_u",
            "owner",
            "parent",
            "purchase_date",
            "purchase_price",
            "currency",
            "supplier",
            "warranty_end",
            "support_end",
            "planned_eol",
            "measured_mass_kg",
            "mass_kg",
            "data_bearing",
            "state",
            "workload",
            "notes",
            "created_at",
            "updated_at",
            "last_seen_at",
            "last_seen_where",
        )
        read_only_fields = (
            "data_bearing",
            "asset_tag",
            "purchase_date",
            "purchase_price",
            "currency",
            "supplier",
            "state",
            "workload",
            "created_at",
            "updated_at",
        )

    def get_last_seen_at(self, asset) -> dt.datetime | None:
        seen = audits.last_seen(asset)
        return serializers.DateTimeField().to_representation(seen.at) if seen else None

    def get_last_seen_where(self, asset) -> str | None:
        seen = audits.last_seen(asset)
        return seen.where if seen else None


class AssetUpdateSerializer(ValidatedModelSerializer):
    """Attributes an operator may correct directly (kept in the change history)."""

    class Meta:
        model = Asset
        fields = (
            "serial_number",
            "owner",
            "warranty_end",
            "support_end",
            "planned_eol",
            "measured_mass_kg",
            "notes",
            "data_bearing",  # may be set, never cleared (the model refuses)
        )


class AssetCreateSerializer(Serializer):
    """A new asset; the registry records its first ledger row, `purchased`."""

    asset_tag = serializers.CharField(max_length=50)
    serial_number = serializers.CharField(max_length=100, required=False, allow_blank=True)
    hardware_model = serializers.SlugRelatedField(
        slug_field="slug", queryset=HardwareModel.objects.all()
    )
    site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all())
    room = serializers.CharField(max_length=50, required=False, allow_blank=True)
    rack = serializers.CharField(max_length=50, required=False, allow_blank=True)
    position_u = serializers.IntegerField(
        required=False, allow_null=True, **{**int_bounds(Asset, "position_u"), "min_value": 0}
    )
    owner = serializers.CharField(max_length=100, required=False, allow_blank=True)
    warranty_end = serializers.DateField(required=False, allow_null=True)
    support_end = serializers.DateField(required=False, allow_null=True)
    planned_eol = serializers.DateField(required=False, allow_null=True)
    measured_mass_kg = serializers.DecimalField(
        max_digits=9, decimal_places=3, required=False, allow_null=True, min_value=0
    )
    notes = serializers.CharField(required=False, allow_blank=True)
    data_bearing = serializers.BooleanField(
        required=False, help_text="holds or has held data (also set from the model)"
    )
    # The `purchased` event.
    occurred_at = serializers.DateTimeField(help_text="When it was purchased")
    state = serializers.ChoiceField(choices=[State.ORDERED, State.IN_STOCK], default="in-stock")
    supplier = serializers.CharField(max_length=200)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    currency = serializers.CharField(max_length=3)
    purchase_date = serializers.DateField()
    order_ref = serializers.CharField(required=False, allow_blank=True)


class EventSerializer(ModelSerializer):
    asset = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Blank on an asset's first event (nothing before `purchased`).
    state_before = serializers.ChoiceField(State.choices, read_only=True, allow_blank=True)

    class Meta:
        model = LifecycleEvent
        fields = (
            "id",
            "asset",
            "kind",
            "occurred_at",
            "recorded_at",
            "actor",
            "state_before",
            "state_after",
            "details",
            "corrects",
            "caused_by",
            "site",
        )
        read_only_fields = fields


class EventCreateSerializer(Serializer):
    """`{"kind": ..., "occurred_at": ..., "to_state"?: ..., ...details}`: details sit beside the
    kind, as the lifecycle table names them (e.g. `workload` for `commissioned`)."""

    kind = serializers.ChoiceField(choices=EventKind.choices)
    occurred_at = serializers.DateTimeField()
    to_state = serializers.ChoiceField(choices=State.choices, required=False)

    def validate_occurred_at(self, value: dt.datetime) -> dt.datetime:
        raw = str(self.initial_data.get("occurred_at", ""))
        if not any(c in raw[10:] for c in "+-Z"):
            raise serializers.ValidationError("needs a UTC offset, e.g. 2025-03-01T10:00:00+01:00")
        return value

    def validate(self, attrs):
        attrs["details"] = {
            k: v
            for k, v in self.initial_data.items()
            if k not in ("kind", "occurred_at", "to_state")
        }
        return attrs


class CircularityQuerySerializer(QuerySerializer):
    site = serializers.CharField(required=False, help_text="site code; repeat for several")
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False, help_text="exclusive")

    def validate(self, attrs):
        if "year" not in attrs and not ("start" in attrs and "end" in attrs):
            raise serializers.ValidationError("give `year`, or `start` and `end`")
        if "start" in attrs and "end" in attrs and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


class ChangeSerializer(Serializer):
    field = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(Serializer):
    """One row of an asset's history: a change of its record (django-simple-history) or, with
    type `ledger`, a lifecycle event (its kind, when it occurred, its details)."""

    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True)
    type = serializers.ChoiceField(["created", "changed", "deleted", "ledger"])
    reason = serializers.CharField(allow_null=True)
    changes = ChangeSerializer(many=True)
    event = serializers.IntegerField(required=False, help_text="Ledger rows only: the event id.")
    kind = serializers.ChoiceField(EventKind.choices, required=False)
    occurred_at = serializers.DateTimeField(required=False)
    details = serializers.JSONField(required=False)
