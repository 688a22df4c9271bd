"""Physical audits through the API: start one, scan tags, read the four lists, close or cancel,
download the report. Read by every registry role; written by the operators of the audit's site.
"""

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from circulus.api import Conflict, ModelSerializer, QueueUnavailable, Serializer, require_object
from circulus.filters import FilterSet
from registry import audit_report, audits
from registry import permissions as policy
from registry.api.views import CanReadRegistry, IdCursorPagination
from registry.models import Audit, AuditScan, AuditStatus, Site


class AuditFilter(FilterSet):
    site = django_filters.CharFilter(field_name="site__code", help_text="site code")
    status = django_filters.ChoiceFilter(choices=AuditStatus.choices)

    class Meta:
        model = Audit
        fields = ("site", "status")


class XLSXRenderer(BaseRenderer):
    """Lets a client that asks for the workbook's media type reach the report (which answers
    with the file itself); its errors still come as JSON."""

    media_type = audit_report.MEDIA_TYPE
    format = "xlsx"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


class LineSerializer(Serializer):
    tag = serializers.CharField()
    model = serializers.CharField(allow_blank=True)
    state = serializers.CharField(allow_blank=True, help_text="as recorded")
    recorded = serializers.CharField(allow_blank=True, help_text="where the register has it")
    seen = serializers.CharField(allow_blank=True, help_text="where it was last scanned")
    seen_at = serializers.CharField(allow_blank=True, help_text="ISO 8601, the site's time")
    seen_by = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    movable = serializers.BooleanField(help_text="misplaced, and you may move it here on close")
    recorded_events = serializers.CharField(
        allow_blank=True, help_text="closed audits: what the ledger got"
    )


class CountsSerializer(Serializer):
    found = serializers.IntegerField()
    missing = serializers.IntegerField()
    misplaced = serializers.IntegerField()
    unknown = serializers.IntegerField()


class AuditSerializer(ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all())
    started_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    ended_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Audit
        fields = (
            "id",
            "site",
            "room",
            "rack",
            "status",
            "note",
            "started_by",
            "started_at",
            "ended_by",
            "ended_at",
            "close_failure",
        )
        read_only_fields = ("status", "started_at", "ended_at", "close_failure")
        extra_kwargs = {
            "close_failure": {
                "help_text": "Why the last close by a worker recorded nothing (the audit is open "
                "again); blank otherwise."
            }
        }


class AuditDetailSerializer(AuditSerializer):
    """An audit with its four lists as the scans make them now (a closed audit: as closed)."""

    counts = CountsSerializer(read_only=True)
    found = LineSerializer(many=True, read_only=True)
    missing = LineSerializer(many=True, read_only=True)
    misplaced = LineSerializer(many=True, read_only=True)
    unknown = LineSerializer(many=True, read_only=True)

    class Meta(AuditSerializer.Meta):
        fields = AuditSerializer.Meta.fields + (
            "counts",
            "found",
            "missing",
            "misplaced",
            "unknown",
        )

    def to_representation(self, audit):
        sheet = audits.classify(audit, self.context["request"].user)
        data = super().to_representation(audit)
        data["counts"] = sheet.counts()
        for name in audits.RESULTS:
            data[name] = LineSerializer(getattr(sheet, name), many=True).data
        return data


class ScanRequestSerializer(Serializer):
    tag = serializers.CharField(max_length=300, trim_whitespace=False, help_text="as scanned")
    room = serializers.CharField(
        max_length=50, required=False, allow_blank=True, help_text="where (default: the audit's)"
    )
    rack = serializers.CharField(max_length=50, required=False, allow_blank=True)


class ScanSerializer(ModelSerializer):
    scanned_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    asset = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True, allow_null=True)

    class Meta:
        model = AuditScan
        fields = ("id", "tag", "asset", "room", "rack", "scanned_at", "scanned_by")
        read_only_fields = fields


class ScanResultSerializer(Serializer):
    scan = ScanSerializer()
    result = serializers.ChoiceField(list(audits.RESULTS), help_text="what the tag counts as now")
    counts = CountsSerializer()


class CloseRequestSerializer(Serializer):
    move = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=10_000,
        help_text="tags of misplaced units to record as moved to where they were seen",
    )


class AuditViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Physical audits of a site, room or rack. Read: every registry role. Start, scan, close,
    cancel: the operators of the audit's site (and superusers)."""

    queryset = Audit.objects.select_related("site", "started_by", "ended_by")
    serializer_class = AuditSerializer
    permission_classes = [CanReadRegistry]
    filterset_class = AuditFilter
    pagination_class = IdCursorPagination
    ordering_fields = ("id", "started_at")
    lookup_value_regex = r"[0-9]+"

    def get_serializer_class(self):
        return AuditDetailSerializer if self.action == "retrieve" else AuditSerializer

    def finalize_response(self, request, response, *args, **kwargs):
        # The report's errors (an audit that is not there) are JSON, as the schema says, even
        # to a client that asked for the workbook.
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and isinstance(
            getattr(response, "accepted_renderer", None), XLSXRenderer
        ):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            audit = audits.start(
                site=data["site"],
                user=self.request.user,
                room=data.get("room", ""),
                rack=data.get("rack", ""),
                note=data.get("note", ""),
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        serializer.instance = audit

    def _writable(self, pk) -> Audit:
        audit = self.get_object()
        if not policy.can_write_at(self.request.user, audit.site):
            raise PermissionDenied(f"{audit.site.code} is a site you do not operate.")
        return audit

    def _step(self, step):
        try:
            return step()
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except audits.AuditError as exc:
            if "status" in exc.message_dict:
                raise Conflict({"detail": " ".join(exc.message_dict["status"])}) from exc
            raise

    @extend_schema(
        request=ScanRequestSerializer,
        responses={201: ScanResultSerializer},
        description="Record one tag seen (as typed or scanned; a label's address gives its tag), "
        "where: the audit's room and rack, or narrower ones. A tag seen twice is one unit. "
        "409 when the audit is no longer open.",
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def scan(self, request, pk=None):
        audit = self._writable(pk)
        body = ScanRequestSerializer(data=require_object(request.data))
        body.is_valid(raise_exception=True)
        seen = self._step(lambda: audits.scan(audit, user=request.user, **body.validated_data))
        sheet = audits.classify(audit, request.user)
        result = next(
            (
                line.result
                for line in sheet.lines()
                if (seen.asset_id and line.asset_id == seen.asset_id)
                or (not seen.asset_id and line.tag.casefold() == seen.tag.casefold())
            ),
            audits.UNKNOWN,
        )
        return Response(
            ScanResultSerializer({"scan": seen, "result": result, "counts": sheet.counts()}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=CloseRequestSerializer,
        responses={
            200: OpenApiResponse(AuditDetailSerializer, description="Closed: what was recorded."),
            202: OpenApiResponse(
                AuditDetailSerializer,
                description="More units seen than the server records in a request: a worker "
                "records them and closes the audit. Its status is `closing` until then (scans, "
                "a second close and cancel answer 409); read it again to see it `closed`, or "
                "`open` with `close_failure` saying why nothing was recorded.",
            ),
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Nothing recorded: each refused tag with why (a ledger rule, a move "
                "that cannot be made).",
            ),
        },
        description="Record one `audited` event per unit seen (with where) and a `moved` event "
        "for each tag in `move`, then close: every event or none. Units out of custody that were "
        "seen are reported, not recorded. Up to AUDIT_CLOSE_INLINE_MAX units seen (100 unless "
        "the server sets it) the close is done in the request (200); above it, a worker does it "
        "(202). 409 when the audit is not open (closing, closed or cancelled); 503 when the task "
        "queue cannot be reached (the audit stays open, nothing recorded).",
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def close(self, request, pk=None):
        audit = self._writable(pk)
        body = CloseRequestSerializer(data=require_object(request.data))
        body.is_valid(raise_exception=True)
        move = set(body.validated_data.get("move", []))
        try:
            audit, queued = self._step(
                lambda: audits.request_close(audit, user=request.user, move=move)
            )
        except audits.NotQueued as exc:
            raise QueueUnavailable(str(exc)) from exc
        return Response(
            AuditDetailSerializer(audit, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK,
        )

    @extend_schema(
        request=None,
        responses={200: AuditSerializer},
        description="Stop the audit without recording anything. 409 when it is not open (closing, "
        "closed or cancelled).",
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request, pk=None):
        audit = self._writable(pk)
        audit = self._step(lambda: audits.cancel(audit, user=request.user))
        return Response(AuditSerializer(audit).data)

    @extend_schema(
        responses={(200, audit_report.MEDIA_TYPE): OpenApiTypes.BINARY},
        description="The audit's report as a workbook: found, missing, misplaced and unknown, "
        "with tag, model, recorded and seen location, time and who; printable on A4.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="report.xlsx",
        filter_backends=[],
        pagination_class=None,
        renderer_classes=[JSONRenderer, XLSXRenderer],
    )
    def report(self, request, pk=None):
        audit = self.get_object()
        response = HttpResponse(audit_report.workbook(audit), content_type=audit_report.MEDIA_TYPE)
        response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}.xlsx"'
        return response
