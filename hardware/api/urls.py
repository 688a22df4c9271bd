from rest_framework.routers import DefaultRouter

from hardware.api.views import HardwareModelViewSet, ManufacturerViewSet

router = DefaultRouter()
router.register("manufacturers", ManufacturerViewSet, basename="manufacturer")
router.register("hardware-models", HardwareModelViewSet, basename="hardwaremodel")
urlpatterns = router.urls
