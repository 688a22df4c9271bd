"""Reporting API: thin views over reporting.ingest, reporting.services and reporting.tasks.

Who may do what (reporting/permissions.py): operators read and write only the sites they
operate; auditors read everything and write nothing; other roles see none of it.
"""

import datetime as dt
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from circulus import bounds, jobs
from circulus.api import require_object
from circulus.filters import QuerySerializer
from circulus.pagination import StrictPageSize
from registry.models import Site
from reporting import ingest
from reporting import permissions as policy
from reporting.api import serializers as s
from reporting.models import (
    AggregateResult,
    EnefgExemption,
    FieldValue,
    IngestJob,
    JobStatus,
    ManagementSystem,
    MeasurementPoint,
    PeriodStatus,
    Reading,
    ReportingPeriod,
    SiteProfile,
    TaskRun,
)
from reporting.permissions import may_retry_job
from reporting.services import transition
from reporting.tasks import queue_compute


class ReportingAccess(permissions.BasePermission):
    """Read as operator (own sites), auditor or superuser; write only as the operator of the
    object's site (or superuser)."""

    def has_permission(self, request, view):
        if not policy.can_read(request.user):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return policy.may_write_somewhere(request.user)

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        return policy.can_write_at(request.user, obj.site)


class CSVParser(BaseParser):
    """`text/csv` bodies reach the view as the raw request stream (never loaded whole)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class SiteRowsViewSet(viewsets.ModelViewSet):
    """Rows that belong to a site: read within the caller's scope (and `?site=CODE`), written
    only at sites the caller operates."""

    scoped_model: type

    def get_queryset(self):
        queryset = policy.scope(self.scoped_model.objects.select_related("site"), self.request.user)
        site = self.request.query_params.get("site")
        return queryset.filter(site__code=site) if site else queryset

    def perform_create(self, serializer):
        if not policy.can_write_at(self.request.user, serializer.validated_data["site"]):
            raise PermissionDenied("you do not operate this site")
        serializer.save()

    def perform_update(self, serializer):
        site = serializer.validated_data.get("site", serializer.instance.site)
        if not policy.can_write_at(self.request.user, site):
            raise PermissionDenied("you do not operate this site")
        serializer.save()


class SiteProfileViewSet(SiteRowsViewSet):
    """Each site's Annex I profile (and its EnEfG postcode and public ownership), addressed by
    the site's code: read within the caller's scope, written by the site's operators. The
    next computation of a period reads it. The API deletes no profile (the admin's delete does,
    and the profile's history is kept)."""

    serializer_class = s.SiteProfileSerializer
    permission_classes = [ReportingAccess]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    filterset_fields = ("dc_type", "structure_type", "public_owner")
    lookup_field = "site__code"
    lookup_url_kwarg = "code"

    scoped_model = SiteProfile


class MeasurementPointViewSet(SiteRowsViewSet):
    """Meters (Annex II: the register of measurement points is kept ≥ 10 years)."""

    serializer_class = s.MeasurementPointSerializer
    permission_classes = [ReportingAccess]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]  # kept ≥ 10 years
    filterset_fields = ("quantity", "register", "unit")
    search_fields = ("code", "device_id")
    ordering_fields = ("code",)

    scoped_model = MeasurementPoint


class EnefgExemptionViewSet(viewsets.ModelViewSet):
    """EnEfG exemptions of a period (§11(3) for the ERF duty, §12(4) and (6) for §12): written
    by the site's operators while the period is a draft; the period's next computation turns
    them into findings."""

    serializer_class = s.EnefgExemptionSerializer
    permission_classes = [ReportingAccess]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]  # end it by a date
    filterset_fields = ("period", "ground")

    def get_queryset(self):
        queryset = EnefgExemption.objects.select_related("period__site")
        return policy.scope(queryset, self.request.user, "period__site")

    def _writable(self, period):
        if not policy.can_write_at(self.request.user, period.site):
            raise PermissionDenied("you do not operate this site")
        if period.status != PeriodStatus.DRAFT:
            raise PermissionDenied("only draft periods are edited; reopen it first")

    def perform_create(self, serializer):
        self._writable(serializer.validated_data["period"])
        serializer.save()

    def perform_update(self, serializer):
        self._writable(serializer.instance.period)
        self._writable(serializer.validated_data.get("period", serializer.instance.period))
        serializer.save()


class ManagementSystemViewSet(SiteRowsViewSet):
    """EnEfG §12: a site's energy or environmental management systems, dated (in place,
    validated or certified); operators of the site write them."""

    serializer_class = s.ManagementSystemSerializer
    permission_classes = [ReportingAccess]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]  # end it by a date
    filterset_fields = ("kind", "state")

    scoped_model = ManagementSystem


class ReadingPagination(StrictPageSize, CursorPagination):
    """Keyset pages over the readings' own key (meter, timestamp): a cursor is a position in
    that key, so a page costs one index range scan however deep it is."""

    ordering = ("pk",)
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 10_000

    def _get_position_from_instance(self, instance, ordering):
        return f"{instance.meter_id}~{instance.timestamp.astimezone(dt.UTC).isoformat()}"

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            meter_id, stamp = cursor.position.split("~")
            position = (int(meter_id), dt.datetime.fromisoformat(stamp))
        except ValueError:
            raise NotFound(self.invalid_cursor_message) from None
        if position[1].tzinfo is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor._replace(position=position)

    def encode_cursor(self, cursor):
        position = cursor.position
        if isinstance(position, tuple):
            meter_id, stamp = position
            cursor = cursor._replace(position=f"{meter_id}~{stamp.isoformat()}")
        return super().encode_cursor(cursor)


@extend_schema(
    parameters=[
        OpenApiParameter("meter", str, description="meter code"),
        OpenApiParameter("site", str, description="site code"),
        OpenApiParameter("from", OpenApiTypes.DATETIME, description="timestamp ≥"),
        OpenApiParameter("to", OpenApiTypes.DATETIME, description="timestamp ≤"),
    ]
)
class ReadingViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Meter readings: list (filtered, cursor-paginated) and ingest (POST)."""

    serializer_class = s.ReadingSerializer
    permission_classes = [ReportingAccess]
    pagination_class = ReadingPagination
    parser_classes = [JSONParser, CSVParser]
    filter_backends: list = []

    def get_queryset(self):
        params = self.request.query_params
        queryset = policy.scope(
            Reading.objects.select_related("meter"), self.request.user, "meter__site"
        )
        filters = Q()
        if params.get("meter"):
            filters &= Q(meter__code=params["meter"])
        if params.get("site"):
            filters &= Q(meter__site__code=params["site"])
        if params.get("from"):
            filters &= Q(timestamp__gte=_timestamp(params, "from"))
        if params.get("to"):
            filters &= Q(timestamp__lte=_timestamp(params, "to"))
        return queryset.filter(filters)

    @extend_schema(
        request={
            "application/json": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "meter": {"type": "string"},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "value": {"type": "string"},
                    },
                },
            },
            "text/csv": {"type": "string", "description": "meter,timestamp,value"},
        },
        parameters=[OpenApiParameter("replace", bool, description="overwrite conflicts")],
        responses={
            201: s.IngestJobSerializer,
            202: s.IngestJobSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="the rejected file's report (bad lines named), or why the body "
                "could not be read",
            ),
            413: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`detail`: the body is larger than the upload limit "
                "(READINGS_UPLOAD_MAX_MB), which it names; nothing was read",
            ),
            409: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`detail`, `job`: another file wrote the same readings or month at "
                "the same time and the database stopped this one; nothing was stored, send it "
                "again",
            ),
        },
        description="Ingest readings atomically; CSV bodies over 5 MB go to a task (202).",
    )
    def create(self, request):
        replace = request.query_params.get("replace", "").lower() in ("1", "true", "yes")
        # Refused on its declared length, before a byte of it is read (413 naming the limit).
        size = bounds.declared_length(request.META)
        bounds.check_size(size, settings.READINGS_UPLOAD_MAX_BYTES, "the request body")
        # The body is read before the job exists: a request refused while parsing leaves no job.
        body = request.data
        csv_body = request.content_type.startswith("text/csv")
        if csv_body and not hasattr(body, "readline"):
            raise ParseError("empty CSV body: send the file with a Content-Length")
        if not csv_body and not isinstance(body, list):
            raise ParseError("send a JSON array of {meter, timestamp, value} or a text/csv body")
        submission = ingest.submit_readings(
            body,
            user=request.user,
            source="api",
            replace=replace,
            size=(size or 0) if csv_body else 0,
        )
        job = submission.job
        if submission.collided:  # nothing stored; the client sends the body again
            return Response(
                {"detail": str(submission.collided), "job": str(job.pk)},
                status=status.HTTP_409_CONFLICT,
            )
        if submission.queued:
            return Response(s.IngestJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        code = (
            status.HTTP_201_CREATED if submission.report.accepted else status.HTTP_400_BAD_REQUEST
        )
        return Response(s.IngestJobSerializer(job).data, status=code)


def _timestamp(params, name: str) -> dt.datetime:
    """An ISO 8601 query parameter with a real UTC offset (±14:00 at most), or a 400."""
    text = params[name]
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError({name: [f"{text!r} is not an ISO 8601 timestamp"]}) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if abs(value.utcoffset()) > dt.timedelta(hours=14):
        raise ValidationError({name: [f"{text!r} has a UTC offset beyond ±14:00"]})
    try:  # a database without time zones (SQLite) is asked in UTC
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError(
            {name: [f"{text!r} lies beyond the ends of the calendar in UTC"]}
        ) from None


class IngestJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Ingest jobs with their reports (bad lines, conflicts, counts)."""

    serializer_class = s.IngestJobSerializer
    permission_classes = [ReportingAccess]

    queryset = IngestJob.objects.none()  # for the schema

    def get_queryset(self):
        queryset = IngestJob.objects.all()
        if getattr(self, "swagger_fake_view", False) or policy.sees_all_sites(self.request.user):
            return queryset
        return queryset.filter(requested_by=self.request.user)

    @extend_schema(
        request=None,
        responses={202: s.IngestJobSerializer, 409: OpenApiResponse(description="not failed")},
    )
    # Who may retry is reporting.permissions' call (asked in _retry), not the site's.
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAuthenticated])
    def retry(self, request, pk=None):
        """Queue a failed ingest again (its stored file): the requester or a superuser."""
        job = self.get_object()
        return _retry(request, job, lambda j: s.IngestJobSerializer(j).data)


class SitePeriodsView(generics.ListCreateAPIView):
    """A site's reporting periods; operators of the site create them."""

    serializer_class = s.PeriodSerializer
    permission_classes = [ReportingAccess]
    pagination_class = None

    def site(self) -> Site:
        site = get_object_or_404(
            policy.scope(Site.objects.all(), self.request.user, "pk"), code=self.kwargs["code"]
        )
        return site

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ReportingPeriod.objects.none()
        return ReportingPeriod.objects.filter(site=self.site()).select_related("site")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "site": getattr(self, "_site", None)}

    def create(self, request, *args, **kwargs):
        self._site = self.site()
        if not policy.can_write_at(request.user, self._site):
            raise PermissionDenied("you do not operate this site")
        return super().create(request, *args, **kwargs)


class PeriodViewSet(
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Reporting periods: inputs with quality, indicators, warnings, coverage; compute; status."""

    permission_classes = [ReportingAccess]
    filterset_fields = ("year", "status")

    def get_queryset(self):
        queryset = ReportingPeriod.objects.select_related("site")
        if self.action == "retrieve":
            queryset = queryset.select_related("result")
        return policy.scope(queryset, self.request.user)

    def get_serializer_class(self):
        return s.PeriodDetailSerializer if self.action == "retrieve" else s.PeriodSerializer

    def perform_update(self, serializer):
        if serializer.instance.status != PeriodStatus.DRAFT:
            raise PermissionDenied("only draft periods are edited; reopen it first")
        serializer.save()

    @extend_schema(request=None, responses={202: s.TaskSerializer})
    @action(detail=True, methods=["post"])
    def compute(self, request, pk=None):
        """Queue the computation; poll /api/tasks/{id}/."""
        period = self.get_object()
        run = queue_compute(period, request.user)
        run.refresh_from_db()
        return Response(_task_payload(run), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.TransitionSerializer, responses={200: s.PeriodSerializer})
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """draft → validated (blocked by hard validation errors) → submitted; validated → draft."""
        period = self.get_object()
        body = s.TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            period = transition(period, body.validated_data["to"], actor=request.user)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_409_CONFLICT)
        return Response(s.PeriodSerializer(period).data)

    @extend_schema(
        request=s.FieldValueSerializer, responses={200: s.FieldValueSerializer(many=True)}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def values(self, request, pk=None):
        """Entered Annex II values with quality flags; POST sets one symbol."""
        period = self.get_object()
        if request.method == "POST":
            if period.status != PeriodStatus.DRAFT:
                raise PermissionDenied("only draft periods are edited; reopen it first")
            instance = FieldValue.objects.filter(
                period=period, symbol=str(require_object(request.data).get("symbol"))
            ).first()
            body = s.FieldValueSerializer(instance, data=request.data, context={"period": period})
            body.is_valid(raise_exception=True)
            body.save(period=period)
        return Response(s.FieldValueSerializer(period.values.all(), many=True).data)


def _task_payload(run: TaskRun) -> dict:
    return {
        "id": str(run.pk),
        "name": run.name,
        "status": run.status,
        "result": run.result,
        "error": run.error,
        "status_url": f"/api/tasks/{run.pk}/",
    }


def _retry(request, job, payload) -> Response:
    if not may_retry_job(request.user, job):
        raise PermissionDenied("only the requester or a superuser retries a job")
    try:
        job = jobs.retry(job)
    except ValidationError as exc:
        return Response({"detail": exc.messages}, status=status.HTTP_409_CONFLICT)
    return Response(payload(job), status=status.HTTP_202_ACCEPTED)


class TaskView(APIView):
    """State of a queued computation or ingest (works with eager tasks too)."""

    permission_classes = [ReportingAccess]

    @extend_schema(responses={200: s.TaskSerializer, 404: OpenApiResponse(description="unknown")})
    def get(self, request, task_id: uuid.UUID):
        run = TaskRun.objects.filter(pk=task_id).first()
        job = None if run else IngestJob.objects.filter(pk=task_id).first()
        owner = run.requested_by_id if run else (job.requested_by_id if job else None)
        if not (run or job) or not (
            policy.sees_all_sites(request.user) or owner == request.user.pk
        ):
            return Response({"detail": "unknown task"}, status=status.HTTP_404_NOT_FOUND)
        if run:
            payload = _task_payload(run)
        else:
            payload = {
                "id": str(job.pk),
                "name": "reporting.ingest_job",
                "status": job.status,
                "result": s.IngestJobSerializer(job).data,
            }
        if payload["status"] in (JobStatus.PENDING, JobStatus.RUNNING):
            payload["progress"] = _progress(str(task_id))
        return Response(payload)


class TaskRetryView(APIView):
    """Queue a failed computation again: the requester or a superuser."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={202: s.TaskSerializer, 404: OpenApiResponse(description="unknown")},
    )
    def post(self, request, task_id: uuid.UUID):
        run = TaskRun.objects.filter(pk=task_id).first()
        if run is None or not (
            policy.sees_all_sites(request.user) or run.requested_by_id == request.user.pk
        ):
            return Response({"detail": "unknown task"}, status=status.HTTP_404_NOT_FOUND)
        return _retry(request, run, _task_payload)


def _progress(task_id: str) -> dict | None:
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_RESULT_BACKEND:
        return None
    from celery.result import AsyncResult

    result = AsyncResult(task_id)
    return result.info if isinstance(result.info, dict) else {"state": result.state}


class AggregateAccess(permissions.BasePermission):
    def has_permission(self, request, view):
        return policy.can_see_aggregates(request.user)


class AggregateView(generics.ListAPIView):
    """Annex IV aggregates of a year: EU and per Member State; overall, per type, per size."""

    serializer_class = s.AggregateSerializer
    permission_classes = [AggregateAccess]
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("year", int, required=True),
            OpenApiParameter("scope", str, description="EU or a country code"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator asks with no query
            return AggregateResult.objects.none()
        query = AggregateQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)  # 400 naming the parameter: year=0.5, year missing
        queryset = AggregateResult.objects.filter(year=query.validated_data["year"])
        scope = query.validated_data.get("scope")
        return queryset.filter(scope=scope) if scope else queryset


class AggregateQuery(QuerySerializer):
    year = serializers.IntegerField()
    scope = serializers.CharField(required=False)
