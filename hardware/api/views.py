from rest_framework import permissions, viewsets

from circulus.api import ProtectedDestroyMixin
from hardware import permissions as policy
from hardware.api.filters import HardwareModelFilter
from hardware.api.serializers import HardwareModelSerializer, ManufacturerSerializer
from hardware.models import HardwareModel, Manufacturer


class CatalogueAccess(permissions.BasePermission):
    """Signed-in users read; superusers and catalogue editors write (hardware/permissions.py)."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return policy.can_read(request.user)
        return policy.can_edit(request.user)


class ManufacturerViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    """Hardware manufacturers. Read: any signed-in user; write: superusers and catalogue editors."""

    queryset = Manufacturer.objects.all()
    serializer_class = ManufacturerSerializer
    permission_classes = [CatalogueAccess]
    search_fields = ("name",)
    ordering_fields = ("name",)


class HardwareModelViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    """The hardware catalogue: models with specs, embodied impacts, composition and sources.

    Every figure's source is listed under `sources` (one row per figure). Read: any signed-in
    user; write: superusers and
    catalogue editors.
    """

    queryset = (
        HardwareModel.objects.select_related("manufacturer")
        .prefetch_related("figure_sources__source")
        .order_by("manufacturer__name", "name", "id")
    )
    serializer_class = HardwareModelSerializer
    permission_classes = [CatalogueAccess]
    filterset_class = HardwareModelFilter
    search_fields = ("name", "part_number", "slug")
    ordering_fields = (
        "name",
        "release_year",
        "memory_gb",
        "mass_kg",
        "tdp_w",
        "embodied_gwp_kgco2e",
    )
