from django.urls import path
from rest_framework.routers import DefaultRouter

from registry.api.audits import AuditViewSet
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
router.register("audits", AuditViewSet, basename="audit")
urlpatterns = [
    path("circularity/", CircularityView.as_view(), name="circularity"),
    *router.urls,
]

# --- reuse candidates, reservations and measured runs ---
from registry.api import reuse as reuse_api  # noqa: E402

urlpatterns += [
    path("reuse-candidates/", reuse_api.ReuseCandidateView.as_view(), name="reuse-candidates"),
    path("reuse-requests/", reuse_api.ReuseRequestView.as_view(), name="reuse-requests"),
    path(
        "reuse-measurements/",
        reuse_api.ReuseMeasurementView.as_view(),
        name="reuse-measurements",
    ),
    path(
        "reuse-requests/release/",
        reuse_api.ReuseReleaseView.as_view(),
        name="reuse-requests-release",
    ),
]
