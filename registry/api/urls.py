from django.urls import path
from rest_framework.routers import DefaultRouter

from registry.api.views import (
    AssetViewSet,
    CircularityView,
    LifecycleEventViewSet,
    SiteViewSet,
)

router = DefaultRouter()
router.register("sites", SiteViewSet, basename="site")
router.register("assets", AssetViewSet, basename="asset")
router.register("lifecycle-events", LifecycleEventViewSet, basename="lifecycleevent")
urlpatterns = [
    path("circularity/", CircularityView.as_view(), name="circularity"),
    *router.urls,
]

