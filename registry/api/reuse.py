"""Reuse candidates, reservations and measured runs over HTTP. Thin: parse, call, shape.

GET  /api/reuse-candidates/       ranked candidates with estimates and assumptions
POST /api/reuse-requests/         reserve assets for a named request (per-asset outcomes)
POST /api/reuse-requests/release/ release them again
GET/POST /api/reuse-measurements/ measured runs (used instead of estimates where they match)
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from circulus.api import ModelSerializer, Serializer
from circulus.filters import QuerySerializer
from hardware import inference
from registry import measurements, reservations, reuse
from registry.models import Asset, ReuseMeasurement, Site
from registry.permissions import can_read, may_reserve_somewhere

PRECISIONS = list(inference.PRECISIONS)
MAX_PAGE_SIZE = 200


class CanReadRegistry(permissions.BasePermission):
    """Any registry role (operator, procurement, auditor) or a superuser."""

    def has_permission(self, request, view):
        return can_read(request.user)


class CanReserve(permissions.BasePermission):
    """Procurement, operators (at their own sites, checked per asset) and superusers."""

    message = "Only procurement, site operators and superusers may reserve or release."

    def has_permission(self, request, view):
        return may_reserve_somewhere(request.user)


class ReuseQuerySerializer(QuerySerializer):
    """The query string of GET /api/reuse-candidates/."""

    model = serializers.CharField(required=False, help_text="slug from llm_models.csv")
    params_b = serializers.FloatField(required=False, min_value=0.01, help_text="custom model")
    layers = serializers.IntegerField(required=False, min_value=1)
    kv_heads = serializers.IntegerField(required=False, min_value=1)
    head_dim = serializers.IntegerField(required=False, min_value=1)
    precision = serializers.ChoiceField(choices=PRECISIONS)
    context = serializers.IntegerField(default=8192, min_value=1, max_value=1_048_576)
    concurrency = serializers.IntegerField(default=1, min_value=1, max_value=4096)
    target_tokens_per_s = serializers.FloatField(required=False, min_value=0.001)
    site = serializers.CharField(required=False, help_text="site code, e.g. PAR1")
    country = serializers.CharField(required=False, help_text="ISO code for grid intensity")
    pue = serializers.FloatField(required=False, min_value=1.0, max_value=5.0)
    include_in_service = serializers.BooleanField(default=False)
    only_fitting = serializers.BooleanField(default=False)
    rank = serializers.ChoiceField(choices=list(reuse.RANK_KEYS), default="energy")
    engine = serializers.ChoiceField(
        choices=sorted(inference.engines()),
        default=inference.DEFAULT_ENGINE,
        help_text="serving software (sets the weight format and runtime memory)",
    )
    page = serializers.IntegerField(default=1, min_value=1)
    page_size = serializers.IntegerField(default=50, min_value=1, max_value=MAX_PAGE_SIZE)

    CUSTOM = ("params_b", "layers", "kv_heads", "head_dim")

    def validate_model(self, value):
        if value not in reuse.llm_models():
            known = ", ".join(sorted(reuse.llm_models()))
            raise serializers.ValidationError(f"unknown model '{value}' (known: {known})")
        return value

    def validate_site(self, value):
        site = Site.objects.filter(code=value).first()
        if site is None:
            raise serializers.ValidationError(f"no site with code '{value}'")
        return site

    def validate_country(self, value):
        value = value.upper()
        if value not in reuse.grid_table():
            known = ", ".join(sorted(reuse.grid_table()))
            raise serializers.ValidationError(f"no grid intensity shipped for '{value}' ({known})")
        return value

    def validate(self, attrs):
        given = [name for name in self.CUSTOM if name in attrs]
        if attrs.get("model") and given:
            raise serializers.ValidationError(
                {"model": ["give a model name or custom numbers, not both"]}
            )
        if not attrs.get("model"):
            missing = [name for name in self.CUSTOM if name not in attrs]
            if missing:
                raise serializers.ValidationError(
                    {n: ["required for a custom model (or give `model`)"] for n in missing}
                )
        return attrs

    def to_query(self) -> reuse.ReuseQuery:
        data = self.validated_data
        model = (
            reuse.llm_models()[data["model"]]
            if data.get("model")
            else reuse.custom_model(*(data[name] for name in self.CUSTOM))
        )
        return reuse.ReuseQuery(
            model=model,
            precision=data["precision"],
            context=data["context"],
            concurrency=data["concurrency"],
            site=data.get("site"),
            country=data.get("country"),
            pue=data.get("pue"),
            target_tokens_per_s=data.get("target_tokens_per_s"),
            include_in_service=data["include_in_service"],
            rank=data["rank"],
            only_fitting=data["only_fitting"],
            engine=data["engine"],
        )


class AssetRefSerializer(Serializer):
    asset_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=500
    )
    asset_tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=500
    )

    def validate(self, attrs):
        if not (attrs.get("asset_ids") or attrs.get("asset_tags") or attrs.get("request_name")):
            raise serializers.ValidationError(
                {"asset_ids": ["give asset_ids or asset_tags (at least one asset)"]}
            )
        return attrs


class ReserveSerializer(AssetRefSerializer):
    request_name = serializers.CharField(max_length=200)
    purpose = serializers.CharField(max_length=500)
    requester = serializers.CharField(
        max_length=150, required=False, help_text="who asked (default: you)"
    )


class ReleaseSerializer(AssetRefSerializer):
    request_name = serializers.CharField(
        max_length=200, required=False, help_text="release every asset reserved for it"
    )
    reason = serializers.CharField(max_length=500, required=False, default="")


class OutcomeSerializer(Serializer):
    asset = serializers.CharField()
    asset_id = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(
        choices=["reserved", "released", "refused", "forbidden", "not-found"]
    )
    state = serializers.CharField(required=False)
    errors = serializers.DictField(required=False)
    event_id = serializers.IntegerField(required=False)


class OutcomesSerializer(Serializer):
    results = OutcomeSerializer(many=True)


class CandidateSerializer(Serializer):
    """One candidate: a server's identical GPUs, or loose GPUs of one model at one site."""

    basis = serializers.ChoiceField(
        choices=["measured", "estimated"],
        help_text="measured: the site's own recorded run; estimated: the calibrated model",
    )
    energy_basis = serializers.ChoiceField(
        choices=["measured", "estimated"],
        help_text="power, J/token, kgCO2e/Mtok and payback: measured only when the run used "
        "recorded its power; otherwise from the assumed power",
    )
    measurement_id = serializers.IntegerField(
        allow_null=True, help_text="the recorded run used, when measured"
    )
    hardware_model = serializers.CharField()
    hardware_model_name = serializers.CharField()
    site = serializers.CharField()
    server = serializers.CharField(allow_null=True)
    assets_available = serializers.IntegerField()
    assets = serializers.ListField(child=serializers.DictField())
    supported = serializers.BooleanField()
    precision_supported = serializers.BooleanField()
    fit = serializers.ChoiceField(choices=["fits", "marginal", "does-not-fit"])
    fits = serializers.BooleanField()
    lower = serializers.CharField(help_text="what to lower when the fit is marginal or fails")
    reason = serializers.CharField()
    n_devices = serializers.IntegerField()
    assets_per_group = serializers.IntegerField()
    groups_available = serializers.IntegerField()
    groups_needed = serializers.IntegerField(allow_null=True)
    meets_target = serializers.BooleanField()
    need_gib = serializers.FloatField(help_text="memory needed per device, GiB")
    memory_gib = serializers.FloatField(help_text="memory per device, GiB")
    power_w = serializers.FloatField(allow_null=True)
    pue = serializers.FloatField(allow_null=True)
    grid_kg_per_kwh = serializers.FloatField(allow_null=True)
    new_equivalent_devices = serializers.IntegerField(allow_null=True)
    payback = serializers.CharField()
    tokens_per_s = serializers.FloatField(
        allow_null=True, help_text="decode tokens/s, all requests together (central value)"
    )
    tokens_per_s_low = serializers.FloatField(allow_null=True)
    tokens_per_s_high = serializers.FloatField(allow_null=True)
    joules_per_token = serializers.FloatField(allow_null=True, help_text="at the devices")
    joules_per_token_low = serializers.FloatField(allow_null=True)
    joules_per_token_high = serializers.FloatField(allow_null=True)
    joules_per_token_facility = serializers.FloatField(allow_null=True, help_text="× PUE")
    joules_per_token_facility_low = serializers.FloatField(allow_null=True)
    joules_per_token_facility_high = serializers.FloatField(allow_null=True)
    kgco2e_per_mtok = serializers.FloatField(allow_null=True)
    kgco2e_per_mtok_low = serializers.FloatField(allow_null=True)
    kgco2e_per_mtok_high = serializers.FloatField(allow_null=True)
    embodied_avoided_kgco2e = serializers.FloatField(allow_null=True)
    embodied_avoided_kgco2e_low = serializers.FloatField(allow_null=True)
    embodied_avoided_kgco2e_high = serializers.FloatField(allow_null=True)
    payback_years = serializers.FloatField(allow_null=True)
    payback_years_low = serializers.FloatField(allow_null=True)
    payback_years_high = serializers.FloatField(
        allow_null=True, help_text="null: never pays back at the high end"
    )
    few_measurements = serializers.BooleanField(
        help_text="the serving software has fewer than 10 published measurements: its speed "
        "range is the wider stated prior, not its own"
    )
    overlaps_previous = serializers.BooleanField(
        help_text="its range of the ranking figure overlaps that of the candidate ranked just "
        "above: their order is not settled by the figures"
    )
    overlaps_next = serializers.BooleanField(
        help_text="the same with the candidate ranked just below"
    )
    faster_than_new = serializers.ChoiceField(
        choices=["yes", "no", "uncertain"],
        allow_null=True,
        help_text="its whole speed range above (yes) or below (no) the new equivalent's "
        "estimate, or straddling it (uncertain); null: no new equivalent or no speed",
    )
    pays_back_in_horizon = serializers.ChoiceField(
        choices=["yes", "no", "uncertain"],
        allow_null=True,
        help_text="buying new pays back within 4 years over the whole payback range (yes), "
        "never within it (no), or depending on the range (uncertain); null: not computed",
    )
    caveats = serializers.ListField(
        child=serializers.CharField(),
        help_text="where the ranges leave a decision open, one sentence each; also, on an "
        "estimated row, when the serving software's range held less often than stated on "
        "published measurements no fit saw",
    )


class CandidatePageSerializer(Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    estimate = serializers.CharField()
    request = serializers.DictField()
    new_equivalent = serializers.DictField(allow_null=True)
    assumptions = serializers.DictField()
    results = CandidateSerializer(many=True)


class ReuseCandidateView(APIView):
    """Accelerators we own that could serve an LLM, ranked; every figure is an estimate.

    Candidates are accelerators in `in-stock` or `awaiting-disposition` (and `in-service` with
    `include_in_service=true`), grouped by server: a tensor-parallel group is identical devices
    in one server. Read: any registry role.
    """

    permission_classes = [CanReadRegistry]

    @extend_schema(parameters=[ReuseQuerySerializer], responses=CandidatePageSerializer)
    def get(self, request):
        params = ReuseQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        result = reuse.find_candidates(params.to_query())
        size, number = params.validated_data["page_size"], params.validated_data["page"]
        rows = reuse.page(result, (number - 1) * size, size)
        return Response(
            {
                "count": result.total,
                "page": number,
                "page_size": size,
                "estimate": reuse.ESTIMATE_LABEL,
                "request": result.request,
                "new_equivalent": result.new_equivalent,
                "assumptions": result.assumptions,
                "results": rows,
            }
        )


# What _outcome_response answers, per asset outcome, for the schema.
OUTCOME_RESPONSES = {
    201: OpenApiResponse(OutcomesSerializer, "every asset done"),
    207: OpenApiResponse(OutcomesSerializer, "some assets done, the others refused (see each)"),
    403: OpenApiResponse(OutcomesSerializer, "every asset refused to your role"),
    404: OpenApiResponse(OutcomesSerializer, "none of the assets found"),
    409: OpenApiResponse(OutcomesSerializer, "none done (reserved elsewhere, wrong state)"),
}


def _outcome_response(outcomes, ok_status: str) -> Response:
    """201 all done · 207 some done · 403 all forbidden · 404 none found · 409 none done."""
    statuses = {o.status for o in outcomes}
    if statuses == {ok_status}:
        code = status.HTTP_201_CREATED
    elif ok_status in statuses:
        code = status.HTTP_207_MULTI_STATUS
    elif statuses == {"forbidden"}:
        code = status.HTTP_403_FORBIDDEN
    elif statuses == {"not-found"}:
        code = status.HTTP_404_NOT_FOUND
    else:
        code = status.HTTP_409_CONFLICT
    return Response({"results": [o.as_dict() for o in outcomes]}, status=code)


class ReuseRequestView(APIView):
    """Reserve assets for a named request (`reserved-for-reuse` ledger events).

    Each asset is reserved on its own: the response lists what happened to each. An asset
    reserved concurrently by someone else is refused, never reserved twice.
    """

    permission_classes = [CanReserve]

    @extend_schema(request=ReserveSerializer, responses=OUTCOME_RESPONSES)
    def post(self, request):
        body = ReserveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcomes = reservations.reserve_for_request(
            request_name=data["request_name"],
            purpose=data["purpose"],
            requester=data.get("requester"),
            actor=request.user,
            asset_ids=data.get("asset_ids", []),
            asset_tags=data.get("asset_tags", []),
        )
        return _outcome_response(outcomes, "reserved")


class ReuseReleaseView(APIView):
    """Release reservations (`reservation-released`): by assets, or by request name."""

    permission_classes = [CanReserve]

    @extend_schema(request=ReleaseSerializer, responses=OUTCOME_RESPONSES)
    def post(self, request):
        body = ReleaseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcomes = reservations.release_reservation(
            actor=request.user,
            asset_ids=data.get("asset_ids", []),
            asset_tags=data.get("asset_tags", []),
            request_name=data.get("request_name"),
            reason=data.get("reason", ""),
        )
        if not outcomes:
            # The outcomes' shape (no asset to report on), so one schema describes every 404.
            detail = f"Nothing is reserved for request {data.get('request_name')!r}."
            return Response({"detail": detail, "results": []}, status=status.HTTP_404_NOT_FOUND)
        return _outcome_response(outcomes, "released")


class ReuseMeasurementSerializer(ModelSerializer):
    """A measured decode run. Checks: registry.measurements.check (the one definition)."""

    asset = serializers.SlugRelatedField(
        slug_field="asset_tag",
        queryset=Asset.objects.select_related("site", "hardware_model"),
        help_text="tag of the accelerator, or of the server whose accelerators ran it",
    )
    site = serializers.CharField(source="site.code", read_only=True)
    hardware_model = serializers.CharField(source="hardware_model.slug", read_only=True)
    precision = serializers.ChoiceField(choices=PRECISIONS)
    engine = serializers.ChoiceField(choices=sorted(inference.engines()))
    llm = serializers.CharField(help_text="language model slug (llm_models.csv)")
    tokens_per_s = serializers.DecimalField(max_digits=12, decimal_places=3)
    power_w = serializers.DecimalField(
        max_digits=9, decimal_places=1, required=False, allow_null=True
    )

    class Meta:
        model = ReuseMeasurement
        fields = ("id", "asset", "site", "hardware_model", *measurements.RUN_FIELDS, "created_at")
        read_only_fields = ("id", "site", "hardware_model", "created_at")

    def create(self, validated_data):
        try:
            return measurements.record_measurement(self.context["request"].user, **validated_data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc


class ReuseMeasurementView(APIView):
    """Measured runs: list (any registry role) and record (operators at their sites).

    A candidate at the same site with the same accelerator model, language model, precision,
    engine, concurrency and number of accelerators shows the measured figure instead of the
    estimate (`basis: measured`).
    """

    permission_classes = [CanReadRegistry]

    @extend_schema(responses=ReuseMeasurementSerializer(many=True))
    def get(self, request):
        rows = ReuseMeasurement.objects.select_related("asset", "site", "hardware_model")[:500]
        return Response(ReuseMeasurementSerializer(rows, many=True).data)

    @extend_schema(request=ReuseMeasurementSerializer, responses={201: ReuseMeasurementSerializer})
    def post(self, request):
        body = ReuseMeasurementSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        body.save()
        return Response(body.data, status=status.HTTP_201_CREATED)
