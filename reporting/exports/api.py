"""Export API: request a job (202), poll it, download its file, retry it; EU workbook as JSON."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from circulus.api import ModelSerializer, Serializer, require_object
from circulus.filters import QuerySerializer
from registry.lifecycle import State
from registry.models import Site
from reporting import permissions as reporting_policy
from reporting.exports import jobs, saved
from reporting.exports.models import ExportJob, ExportKind, ExportState, SavedReport

FORMATS = {
    ExportKind.ASSETS: ("xlsx", "csv"),
    ExportKind.EWASTE: ("xlsx",),
    ExportKind.EU_ANNUAL: ("xlsx", "zip"),
}
# What a download is served as (by the file's extension).
MEDIA_TYPES = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/csv",
    "application/zip",
)
UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class ExportParamsSerializer(Serializer):
    """Parameters of an export; which apply depends on the kind."""

    format = serializers.ChoiceField(
        ["xlsx", "csv", "zip"], required=False, help_text="assets: xlsx|csv; eu-annual: xlsx|zip"
    )
    year = serializers.IntegerField(
        required=False, min_value=2000, max_value=2100, help_text="eu-annual, ewaste"
    )
    sites = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="eu-annual, ewaste: site codes"
    )
    variant = serializers.ChoiceField(
        ["publish", "submit", "de-rzreg"],
        required=False,
        help_text="eu-annual: publish omits confidential; de-rzreg: Germany's register",
    )
    allow_unvalidated = serializers.BooleanField(
        required=False, help_text="eu-annual: include sites whose period is not validated"
    )
    site = serializers.CharField(required=False, help_text="assets: site code")
    state = serializers.ListField(
        child=serializers.ChoiceField(State.choices), required=False, help_text="assets"
    )
    hardware_kind = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="assets: hardware kinds"
    )
    hardware_model = serializers.CharField(required=False, help_text="assets: model slug")


class ExportRequestSerializer(ExportParamsSerializer):
    """`kind` plus its parameters, given flat or inside `params`."""

    kind = serializers.ChoiceField(ExportKind.choices)
    params = serializers.DictField(required=False, help_text="the same parameters, nested")


class ExportJobSerializer(ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = (
            "id",
            "kind",
            "params",
            "state",
            "progress",
            "error",
            "attempts",
            "requested_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
            "download_url",
        )
        read_only_fields = fields

    def get_download_url(self, job) -> str | None:
        if job.state != ExportState.DONE:
            return None
        return reverse("exportjob-download", args=[job.pk])


def validate_params(kind: str, raw: dict) -> dict:
    """Clean the parameters of `kind` (or raise DRF ValidationError)."""
    params = ExportParamsSerializer(data=raw)
    params.is_valid(raise_exception=True)
    data = {k: v for k, v in params.validated_data.items() if v not in (None, "", [])}
    fmt = data.get("format")
    if fmt and fmt not in FORMATS[kind]:
        raise ValidationError({"format": f"{kind} exports as {' or '.join(FORMATS[kind])}"})
    if kind == ExportKind.ASSETS:
        allowed = {"format", "site", "state", "hardware_kind", "hardware_model"}
        from reporting.exports.assets import asset_filters, filtered_assets

        try:
            filtered_assets(asset_filters(data))
        except ValueError as exc:
            raise ValidationError({"params": str(exc)}) from exc
    else:
        allowed = {"format", "year", "sites"}
        if kind == ExportKind.EU_ANNUAL:
            allowed |= {"variant", "allow_unvalidated"}
        if "year" not in data:
            raise ValidationError({"year": f"{kind} needs a reporting year"})
    extra = set(data) - allowed
    if extra:
        raise ValidationError({"params": f"not used by {kind}: {', '.join(sorted(extra))}"})
    codes = data.get("sites", []) + ([data["site"]] if "site" in data else [])
    unknown = set(codes) - set(Site.objects.filter(code__in=codes).values_list("code", flat=True))
    if unknown:
        raise ValidationError({"sites": f"unknown site(s): {', '.join(sorted(unknown))}"})
    return data


def check_inputs(params: dict) -> None:
    """400 with the missing inputs per site when the variant cannot be written (no job made)."""
    from reporting.exports import eu_workbook

    try:
        eu_workbook.report_data(
            params["year"],
            params.get("sites") or None,
            variant=params["variant"],
            allow_unvalidated=True,  # validation status is its own question, asked when run
        )
    except eu_workbook.MissingInputs as exc:
        raise ValidationError({"variant": str(exc), "missing": {exc.variant: exc.missing}}) from exc


class ExportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Export jobs. Anyone with a role may request the exports their role allows; a job and its
    file are visible to the requester, superusers and auditors."""

    serializer_class = ExportJobSerializer
    permission_classes = [permissions.IsAuthenticated]
    lookup_value_regex = UUID_RE
    filterset_fields = ("kind", "state")
    ordering_fields = ("created_at",)

    def get_queryset(self):
        qs = ExportJob.objects.select_related("requested_by")
        if getattr(self, "swagger_fake_view", False):
            return qs.none()
        user = self.request.user
        if reporting_policy.sees_all_sites(user):
            return qs
        return qs.filter(requested_by=user)

    @extend_schema(
        request=ExportRequestSerializer,
        responses={202: ExportJobSerializer},
        description="Queue an export. `kind`: eu-annual (year, sites, variant publish|submit|"
        "de-rzreg, allow_unvalidated, "
        "format xlsx|zip), ewaste (year, sites) or assets (site, state, hardware_kind, "
        "hardware_model, "
        "format xlsx|csv). Parameters may be flat or inside `params`. Returns 202 and the job; "
        "400 with `missing` per site when de-rzreg lacks inputs (nothing queued).",
    )
    def create(self, request, *args, **kwargs):
        body = dict(require_object(request.data))
        kind = body.pop("kind", None)
        if kind not in ExportKind.values:
            raise ValidationError({"kind": f"one of {', '.join(ExportKind.values)}"})
        nested = body.pop("params", None) or {}
        if not isinstance(nested, dict):
            raise ValidationError({"params": "an object"})
        params = validate_params(kind, {**nested, **body})
        try:
            if kind == ExportKind.EU_ANNUAL and params.get("variant") == "de-rzreg":
                check_inputs(jobs.authorise(request.user, kind, params))
            job = jobs.request_export(request.user, kind, params)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        job.refresh_from_db()
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            **{(200, media): OpenApiResponse(OpenApiTypes.BINARY) for media in MEDIA_TYPES},
            409: OpenApiResponse(description="not done yet"),
        },
        description="The exported file: to the requester, superusers and auditors.",
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        job = get_object_or_404(ExportJob, pk=pk)
        if not jobs.can_download(request.user, job):
            raise Http404
        if job.state != ExportState.DONE or not job.path or not job.path.exists():
            return Response({"detail": f"the job is {job.state}"}, status=status.HTTP_409_CONFLICT)
        return FileResponse(job.path.open("rb"), as_attachment=True, filename=job.path.name)

    @extend_schema(request=None, responses={202: ExportJobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = get_object_or_404(ExportJob, pk=pk)
        if not jobs.can_download(request.user, job):
            raise Http404
        if not reporting_policy.can_retry_export(request.user, job):
            raise PermissionDenied("only the requester or a superuser may retry an export")
        try:
            jobs.authorise(request.user, job.kind, job.params)
            job = jobs.retry(job)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except DjangoValidationError as exc:
            return Response({"detail": exc.messages}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class EuAnnualQuerySerializer(QuerySerializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    site = serializers.ListField(child=serializers.CharField(), required=False)
    variant = serializers.ChoiceField(["publish", "submit", "de-rzreg"], default="submit")
    allow_unvalidated = serializers.BooleanField(default=False)


class EuAnnualJsonView(APIView):
    """The EU annual workbook's content as JSON: the same sheets, columns and values (Decimals as
    exact strings, blanks as null). Same permissions as requesting the workbook."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[EuAnnualQuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        from reporting.exports import eu_workbook

        query = EuAnnualQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = validate_params(
            ExportKind.EU_ANNUAL,
            {
                "year": query.validated_data["year"],
                "sites": query.validated_data.get("site", []),
            },
        )
        try:
            params = jobs.authorise(request.user, ExportKind.EU_ANNUAL, params)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        try:
            data = eu_workbook.report_data(
                params["year"],
                params.get("sites") or None,
                variant=query.validated_data["variant"],
                allow_unvalidated=query.validated_data["allow_unvalidated"],
            )
        except eu_workbook.NotValidated as exc:
            raise ValidationError({"allow_unvalidated": str(exc)}) from exc
        except eu_workbook.MissingInputs as exc:
            raise ValidationError(
                {"variant": str(exc), "missing": {exc.variant: exc.missing}}
            ) from exc
        return Response(eu_workbook.as_json(jobs.for_reader(data, request.user)))


class SavedReportSerializer(ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    params = serializers.DictField(
        required=False, help_text="The export's parameters, as POST /api/exports/ takes them."
    )

    class Meta:
        model = SavedReport
        fields = (
            "id",
            "name",
            "owner",
            "kind",
            "params",
            "schedule",
            "weekday",
            "day_of_month",
            "recipients",
            "last_sent_at",
            "last_job",
            "last_error",
            "created_at",
        )
        read_only_fields = ("owner", "last_sent_at", "last_job", "last_error", "created_at")

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        raw = attrs.get("params", getattr(self.instance, "params", {}))
        attrs["params"] = validate_params(kind, raw)
        user = self.context["request"].user
        try:
            jobs.authorise(user, kind, attrs["params"])
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        name = attrs.get("name", getattr(self.instance, "name", ""))
        owner = self.instance.owner if self.instance else user
        clash = SavedReport.objects.filter(owner=owner, name=name)
        if self.instance:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError({"name": "You already have a saved report of this name."})
        candidate = SavedReport(**attrs)
        if self.instance:
            for field in ("schedule", "weekday", "day_of_month", "recipients"):
                if field not in attrs:
                    setattr(candidate, field, getattr(self.instance, field))
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return attrs


class SavedReportViewSet(viewsets.ModelViewSet):
    """Export queries saved by name: each user's own (superusers see all). `run` makes an export
    job of it now; a `schedule` (weekly on `weekday`, monthly on `day_of_month`) e-mails its
    file to `recipients` on that day, made with the owner's rights at that time."""

    serializer_class = SavedReportSerializer
    permission_classes = [permissions.IsAuthenticated]
    filterset_fields = ("kind", "schedule")

    def get_queryset(self):
        qs = SavedReport.objects.select_related("owner")
        if getattr(self, "swagger_fake_view", False):
            return qs.none()
        user = self.request.user
        return qs if user.is_superuser else qs.filter(owner=user)

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)

    @extend_schema(
        request=None,
        responses={202: ExportJobSerializer, 403: OpenApiResponse(description="not allowed")},
        description="Make an export job of the saved query now (as POST /api/exports/ would).",
    )
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        report = self.get_object()
        try:
            job = saved.run(report)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        job.refresh_from_db()
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
