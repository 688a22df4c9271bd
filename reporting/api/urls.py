from django.urls import path
from rest_framework.routers import DefaultRouter

from reporting.api import views

router = DefaultRouter()
router.register("measurement-points", views.MeasurementPointViewSet, basename="measurement-point")
router.register("readings", views.ReadingViewSet, basename="reading")
router.register("ingest-jobs", views.IngestJobViewSet, basename="ingest-job")
router.register("periods", views.PeriodViewSet, basename="period")
router.register("enefg-exemptions", views.EnefgExemptionViewSet, basename="enefg-exemption")
router.register("site-profiles", views.SiteProfileViewSet, basename="site-profile")
router.register("management-systems", views.ManagementSystemViewSet, basename="management-system")

urlpatterns = [
    path("sites/<str:code>/periods/", views.SitePeriodsView.as_view(), name="site-periods"),
    path("tasks/<uuid:task_id>/", views.TaskView.as_view(), name="task"),
    path("tasks/<uuid:task_id>/retry/", views.TaskRetryView.as_view(), name="task-retry"),
    path("aggregates/", views.AggregateView.as_view(), name="aggregates"),
    *router.urls,
]
