"""Connector API: sources (read-only here; set up by superusers in the admin), pulls and their
dry runs, applying a dry run, and measured runs read from Prometheus."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.response import Response

from connectors import inventory, pulls, telemetry
from connectors import permissions as policy
from connectors.api.serializers import (
    MeasuredRunRequestSerializer,
    PullSerializer,
    SourceSerializer,
)
from connectors.clients import SourceError
from connectors.models import Pull, Source
from registry.api.reuse import ReuseMeasurementSerializer
from registry.models import Asset


class SourceUnavailable(APIException):
    """The source did not answer or answered something unreadable: not the caller's input."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "source_unavailable"


class CanRead(permissions.BasePermission):
    def has_permission(self, request, view):
        return policy.can_read(request.user)


class SourceViewSet(viewsets.ReadOnlyModelViewSet):
    """Connector sources: what is read, where, how often. Credentials are never returned."""

    queryset = Source.objects.select_related("site").prefetch_related("feeds__meter")
    serializer_class = SourceSerializer
    permission_classes = [CanRead]
    filterset_fields = ["kind", "enabled"]

    @extend_schema(request=None, responses={202: PullSerializer})
    @action(detail=True, methods=["post"])
    def pull(self, request, pk=None):
        """Queue a pull now (the site's operators)."""
        source = self.get_object()
        if not policy.can_pull(request.user, source.site):
            raise PermissionDenied(f"You do not operate {source.site.code}.")
        pull = pulls.start(source, request.user)
        return Response(PullSerializer(pull).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=MeasuredRunRequestSerializer,
        responses={
            201: ReuseMeasurementSerializer,
            400: OpenApiResponse(description="a field or the window does not count (named)"),
            502: OpenApiResponse(description="the Prometheus source did not answer, or garbled"),
        },
        description="Record a measured reuse run from this Prometheus source's DCGM and engine "
        "series over a window (docs/reuse.md says what a window must contain).",
    )
    @action(detail=True, methods=["post"], url_path="measured-runs")
    def measured_runs(self, request, pk=None):
        source = self.get_object()
        if not policy.can_pull(request.user, source.site):
            raise PermissionDenied(f"You do not operate {source.site.code}.")
        body = MeasuredRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        asset = (
            Asset.objects.select_related("site", "hardware_model")
            .filter(asset_tag=fields.pop("asset"))
            .first()
        )
        if asset is None:
            raise ValidationError({"asset": ["no asset with this tag"]})
        try:
            run = telemetry.measure(source, asset=asset, actor=request.user, **fields)
        except SourceError as exc:
            raise SourceUnavailable(str(exc)) from exc
        return Response(ReuseMeasurementSerializer(run).data, status=status.HTTP_201_CREATED)


class PullViewSet(viewsets.ReadOnlyModelViewSet):
    """Pulls, newest first: state, progress, log, outcome, and an inventory pull's dry run."""

    queryset = Pull.objects.select_related("source", "applied_by")
    serializer_class = PullSerializer
    permission_classes = [CanRead]
    filterset_fields = ["state", "source"]

    @extend_schema(request=None, responses={200: PullSerializer})
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        """Apply this inventory dry run: new units and moves become ledger events."""
        pull = get_object_or_404(Pull.objects.select_related("source__site"), pk=pk)
        if not policy.can_apply(request.user, pull.source.site):
            raise PermissionDenied(f"You do not operate {pull.source.site.code}.")
        inventory.apply(pull, request.user)
        pull.refresh_from_db()
        return Response(PullSerializer(pull).data)
