import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from circulus.api import ProtectedDestroyMixin
from circulus.filters import QuerySerializer
from circulus.pagination import StrictPageSize
from registry import audits, labels, selectors, services
from registry import permissions as policy
from registry.api.filters import AssetFilter, EventFilter
from registry.api.idempotency import idempotent
from registry.api.serializers import (
    AssetCreateSerializer,
    AssetSerializer,
    AssetUpdateSerializer,
    CircularityQuerySerializer,
    EventCreateSerializer,
    EventSerializer,
    HistoryEntrySerializer,
    SiteSerializer,
)
from registry.lifecycle import NOT_BY_HAND
from registry.models import Asset, LifecycleEvent, Site


class PDFRenderer(BaseRenderer):
    """Lets a client that asks for `application/pdf` reach the label views (which answer with
    the PDF themselves); their errors still come as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


class LabelQuerySerializer(QuerySerializer):
    layout = serializers.ChoiceField(
        choices=[(code, stock.label) for code, stock in labels.LAYOUTS.items()],
        default=labels.DEFAULT_LAYOUT,
        help_text="The label stock.",
    )
    skip = serializers.IntegerField(
        min_value=0,
        max_value=max(stock.per_sheet for stock in labels.LAYOUTS.values()) - 1,
        default=0,
        help_text="Labels already used on the first sheet; printing starts after them.",
    )


class CanReadRegistry(permissions.BasePermission):
    """Signed-in users with a role (operator, procurement, auditor) or superusers."""

    def has_permission(self, request, view):
        return policy.can_read(request.user)


class IdCursorPagination(StrictPageSize, CursorPagination):
    """Keyset pagination: no COUNT(*) and no OFFSET, so page 10,000 costs what page 1 does."""

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class SiteViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    """Data centres. Read: any role; write: superusers."""

    queryset = Site.objects.all()
    serializer_class = SiteSerializer
    permission_classes = [CanReadRegistry]
    lookup_field = "code"
    search_fields = ("code", "name")
    ordering_fields = ("code", "name", "country")

    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in permissions.SAFE_METHODS and not policy.can_manage_sites(
            request.user
        ):
            raise PermissionDenied("Only administrators manage sites.")

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)


class AssetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Physical assets. State, site and parent change only by recording events.

    Create: operators at the asset's site (records the `purchased` event). Update of plain
    attributes: operators at the site. Read: every role.
    """

    queryset = selectors.assets_for_list()
    serializer_class = AssetSerializer
    permission_classes = [CanReadRegistry]
    filterset_class = AssetFilter
    pagination_class = IdCursorPagination
    search_fields = ("^asset_tag", "^serial_number")
    ordering_fields = ("id", "asset_tag", "purchase_date", "planned_eol")

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return AssetUpdateSerializer
        return AssetSerializer

    def get_queryset(self):
        return audits.with_last_seen(super().get_queryset())

    def perform_update(self, serializer):
        if not policy.can_write_at(self.request.user, serializer.instance.site):
            raise PermissionDenied("You may change assets only at the sites you operate.")
        serializer.save()

    @extend_schema(request=AssetCreateSerializer, responses={201: AssetSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        data = AssetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if not policy.can_write_at(request.user, fields["site"]):
            raise PermissionDenied("You may create assets only at the sites you operate.")
        event = {k: fields.pop(k) for k in ("supplier", "price", "currency", "purchase_date")}
        event |= {"order_ref": fields.pop("order_ref", "")}
        asset = services.create_asset(
            occurred_at=fields.pop("occurred_at"),
            to_state=fields.pop("state"),
            actor=request.user,
            details={k: str(v) for k, v in event.items() if v != ""},
            **fields,
        )
        return Response(AssetSerializer(asset).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        responses=EventSerializer(many=True),
        description="The asset's ledger, oldest first.",
    )
    @extend_schema(
        methods=["POST"],
        request=EventCreateSerializer,
        responses={201: EventSerializer},
        description="Record an event. Details sit beside `kind` and `occurred_at`, named as in "
        "the lifecycle table (docs/registry.md). Send `Idempotency-Key` to make retries safe.",
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
    )
    # The asset list's filters do not apply here: none is advertised or read.
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        asset = get_object_or_404(selectors.assets_for_list(), pk=pk)
        if request.method == "GET":
            ledger = asset.events.select_related("asset", "site", "actor").order_by(
                "occurred_at", "id"
            )
            return Response(EventSerializer(ledger, many=True).data)
        return self._record(request, asset)

    @extend_schema(
        responses=HistoryEntrySerializer(many=True),
        description="The asset's history, newest first: each change of its record (who, "
        "when, before/after of each changed field) and each ledger event (type `ledger`: kind, "
        "state before and after, details); the ledger alone is at `events/`.",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        asset = get_object_or_404(Asset, pk=pk)
        return Response(selectors.change_history(asset))

    @extend_schema(
        parameters=[LabelQuerySerializer],
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            400: OpenApiTypes.OBJECT,
        },
        description="Printable labels (A4 PDF) for the assets this list's filters select, in "
        f"tag order, at most {labels.MAX_LABELS}: tag, model, site, serial number and a QR code "
        "of the asset's address. `layout` names the label stock; `skip` leaves that many "
        "labels of the first sheet blank.",
    )
    @action(
        detail=False,
        methods=["get"],
        pagination_class=None,
        renderer_classes=[JSONRenderer, PDFRenderer],
    )
    def labels(self, request):
        query = LabelQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        assets = self.filter_queryset(self.get_queryset()).order_by("asset_tag")
        count = assets.count()
        if count > labels.MAX_LABELS:
            raise ValidationError(
                {
                    "detail": f"{count} assets match; labels are printed for at most "
                    f"{labels.MAX_LABELS} at a time. Narrow the query with its filters."
                }
            )
        pdf = labels.sheet_pdf(
            labels.labels_for(assets, request),
            query.validated_data["layout"],
            skip=query.validated_data["skip"],
        )
        return labels.pdf_response(pdf, "asset-labels.pdf")

    @extend_schema(
        parameters=[LabelQuerySerializer],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 404: OpenApiTypes.OBJECT},
        description="One label on a page the size of one label of `layout` (for a label printer).",
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        renderer_classes=[JSONRenderer, PDFRenderer],
    )
    def label(self, request, pk=None):
        query = LabelQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        asset = get_object_or_404(selectors.assets_for_list(), pk=pk)
        (text,) = labels.labels_for(Asset.objects.filter(pk=asset.pk), request)
        pdf = labels.single_pdf(text, query.validated_data["layout"])
        return labels.pdf_response(pdf, f"label-{asset.pk}.pdf")

    @idempotent
    def _record(self, request, asset):
        data = EventCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind = data.validated_data["kind"]
        if kind in NOT_BY_HAND:
            raise ValidationError({"kind": [f"'{kind}' is recorded by closing an audit"]})
        if not policy.can_record(request.user, kind, asset.site):
            raise PermissionDenied(f"You may not record '{kind}' for assets at {asset.site.code}.")
        try:
            event = services.record_event(
                asset,
                kind,
                occurred_at=data.validated_data["occurred_at"],
                actor=request.user,
                to_state=data.validated_data.get("to_state"),
                details=data.validated_data["details"],
            )
        except services.OutOfScope as exc:
            raise PermissionDenied(" ".join(exc.messages)) from exc
        event = LifecycleEvent.objects.select_related("asset", "site", "actor").get(pk=event.pk)
        return Response(EventSerializer(event).data, status=status.HTTP_201_CREATED)


class LifecycleEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The whole ledger, read-only (corrections are new events, recorded on the asset)."""

    queryset = LifecycleEvent.objects.select_related("asset", "site", "actor")
    serializer_class = EventSerializer
    permission_classes = [CanReadRegistry]
    filterset_class = EventFilter
    pagination_class = IdCursorPagination
    ordering_fields = ("id", "occurred_at")


class CircularityView(APIView):
    """Circular figures for sites and a period: mass (kg, t) and units by WEEE category entering
    each route, the Green Grid EDE ratio, recovered metals (reported vs estimated), embodied
    carbon kept in use, sanitisation counts and certificate references."""

    permission_classes = [CanReadRegistry]

    @extend_schema(parameters=[CircularityQuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        query = CircularityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        if "year" in params:
            period = selectors.Period.year(params["year"])
        else:
            period = selectors.Period(
                dt.datetime.combine(params["start"], dt.time(), dt.UTC),
                dt.datetime.combine(params["end"], dt.time(), dt.UTC),
            )
        sites = request.query_params.getlist("site") or None
        unknown = set(sites or ()) - set(
            Site.objects.filter(code__in=sites or ()).values_list("code", flat=True)
        )
        if unknown:
            return Response(
                {"site": [f"unknown site(s): {', '.join(sorted(unknown))}"]}, status=400
            )
        return Response(selectors.circular_figures(sites, period))
