"""Shapes of the reporting API. Validation is the models' (ValidatedModelSerializer)."""

from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from circulus.api import ModelSerializer, Serializer, ValidatedModelSerializer
from registry.models import Site
from reporting import indicators as ind
from reporting import permissions as reporting_policy
from reporting.models import (
    AggregateResult,
    EnefgExemption,
    FieldValue,
    IngestJob,
    ManagementSystem,
    MeasurementPoint,
    Reading,
    ReportingPeriod,
    SiteProfile,
)


class MeasurementPointSerializer(ValidatedModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all())

    class Meta:
        model = MeasurementPoint
        fields = (
            "id",
            "site",
            "code",
            "quantity",
            "unit",
            "register",
            "multiplier",
            "interval_minutes",
            "device_id",
            "location",
            "valid_from",
            "valid_to",
        )


class ReadingSerializer(ModelSerializer):
    meter = serializers.CharField(source="meter.code", read_only=True)

    class Meta:
        model = Reading
        fields = ("meter", "timestamp", "value")


class PeriodSerializer(ValidatedModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)
    status = serializers.CharField(
        read_only=True, help_text="draft, validated or submitted (POST …/transition/ to move)"
    )
    schema = serializers.CharField(
        read_only=True,
        help_text="Field dictionary, chosen by the year: the one applying when the year's report "
        "is due (2024/1364 up to 2025, 2024/1364+2026 from 2026)",
    )

    class Meta:
        model = ReportingPeriod
        fields = (
            "id",
            "site",
            "year",
            "start_date",
            "end_date",
            "partial_year",
            "status",
            "schema",
            "heat_reuse_readiness",
            "pdit_basis",
            "wue_category",
            "eit_method_note",
            "grid_functions",
            "refrigerants",
            "cdd_source",
            "cserv_scr_coverage_pct",
            "cstor_scr_coverage_pct",
            "fill_gaps",
            "notes",
        )

    def validate(self, attrs):
        if self.instance is None:
            attrs["site"] = self.context["site"]
        attrs = super().validate(attrs)
        if attrs.get("year"):  # the year chooses the dictionary, as the model's clean() does
            attrs["schema"] = ind.governing_dictionary(attrs["year"])[0]
        return attrs


class ResultSerializer(Serializer):
    inputs = serializers.JSONField(help_text="{symbol: {value, unit, quality, source, …}}")
    indicators = serializers.JSONField()
    monthly = serializers.JSONField()
    coverage = serializers.JSONField()
    errors = serializers.JSONField()
    warnings = serializers.JSONField()
    findings = serializers.JSONField(
        help_text="Every finding, info included: [{rule_id, severity, fields, message}], and for "
        "a site in Germany the EnEfG compliance checks with legal_ref and applies_from"
    )
    code_version = serializers.CharField()
    fingerprint = serializers.CharField()
    computed_at = serializers.DateTimeField()


class PeriodDetailSerializer(PeriodSerializer):
    result = serializers.SerializerMethodField()

    class Meta(PeriodSerializer.Meta):
        fields = (*PeriodSerializer.Meta.fields, "result")

    def get_result(self, period) -> dict | None:
        result = getattr(period, "result", None)
        return ResultSerializer(result).data if result else None


class FieldValueSerializer(ValidatedModelSerializer):
    class Meta:
        model = FieldValue
        fields = (
            "symbol",
            "value",
            "quality",
            "measured_by",
            "omission_reason",
            "note",
            "confidential",
        )

    def validate(self, attrs):
        if self.instance is None:
            attrs["period"] = self.context["period"]
        elif not self.partial:
            # Setting a symbol again states the figure afresh: what it leaves out is blank, not
            # the replaced figure's (a new measured figure names its own instrument). Only the
            # confidentiality stays until lifted, so a value is never published by omission.
            for name in set(self.Meta.fields) - {"symbol", "confidential"}:
                attrs.setdefault(name, FieldValue._meta.get_field(name).get_default())
        return super().validate(attrs)


class EnefgExemptionSerializer(ValidatedModelSerializer):
    """EnEfG §11(3), §12(4), §12(6): the ground the operator proves, its dates and the proof."""

    period = serializers.PrimaryKeyRelatedField(
        queryset=ReportingPeriod.objects.select_related("site"),
        help_text="The reporting period (id) the exemption is proven for",
    )
    site = serializers.CharField(source="period.site.code", read_only=True)
    ground_label = serializers.CharField(source="get_ground_display", read_only=True)

    class Meta:
        model = EnefgExemption
        fields = (
            "id",
            "site",
            "period",
            "ground",
            "ground_label",
            "valid_from",
            "valid_until",
            "document",
            "note",
        )


class ManagementSystemSerializer(ValidatedModelSerializer):
    """EnEfG §12: a site's energy (ISO 50001) or environmental (EMAS) management system."""

    site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all())
    state_label = serializers.CharField(source="get_state_display", read_only=True)

    class Meta:
        model = ManagementSystem
        fields = (
            "id",
            "site",
            "kind",
            "state",
            "state_label",
            "since",
            "valid_until",
            "document",
            "body",
            "note",
        )


class SiteProfileSerializer(ValidatedModelSerializer):
    """Annex I of Delegated Regulation (EU) 2024/1364 for one data centre (owner, operator,
    location, type, start of operation, redundancy), and what German law adds (EnEfG: the
    postcode, whether a public body owns it or it is operated for one). One profile per site;
    it stays with its site."""

    site = serializers.SlugRelatedField(
        slug_field="code", queryset=Site.objects.all(), help_text="The site's code"
    )
    dc_type_label = serializers.CharField(source="get_dc_type_display", read_only=True)
    structure_type_label = serializers.CharField(
        source="get_structure_type_display", read_only=True
    )

    class Meta:
        model = SiteProfile
        fields = (
            "id",
            "site",
            *SiteProfile.ANNEX_I,
            "dc_type_label",
            "structure_type_label",
            "postcode",
            "public_owner",
        )

    def validate_site(self, site):
        # Whose site it is comes first: a site the caller does not operate is refused before
        # anything about its profile (whether it has one) is said.
        if not reporting_policy.can_write_at(self.context["request"].user, site):
            raise PermissionDenied("you do not operate this site")
        return site  # that it stays with its site is the model's rule (SiteProfile.clean)


class TransitionSerializer(Serializer):
    to = serializers.ChoiceField(choices=["draft", "validated", "submitted"])


class AggregateSerializer(ModelSerializer):
    class Meta:
        model = AggregateResult
        fields = (
            "year",
            "scope",
            "group",
            "n_sites",
            "total_pdit_kw",
            "total_edc_kwh",
            "total_win_m3",
            "averages",
            "computed_at",
        )


class IngestJobSerializer(ModelSerializer):
    status = serializers.CharField(
        read_only=True, help_text="pending, running, succeeded, rejected (nothing written), failed"
    )

    class Meta:
        model = IngestJob
        fields = (
            "id",
            "status",
            "source",
            "replace",
            "task_id",
            "rows",
            "inserted",
            "unchanged",
            "replaced",
            "conflicts",
            "errors",
            "message",
            "attempts",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        )


class TaskSerializer(Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.JSONField(required=False)
    result = serializers.JSONField(required=False)
    error = serializers.CharField(required=False)
