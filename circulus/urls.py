from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from hardware.api.views import HardwareModelViewSet, ManufacturerViewSet

router = DefaultRouter()
router.register("manufacturers", ManufacturerViewSet, basename="manufacturer")
router.register("hardware-models", HardwareModelViewSet, basename="hardwaremodel")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include(router.urls)),
]

admin.site.site_header = "Circulus"
admin.site.site_title = "Circulus"
admin.site.index_title = "Data-centre reporting and circular registry"
