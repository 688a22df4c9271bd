from django.urls import path
from rest_framework.routers import SimpleRouter

from reporting.exports.api import EuAnnualJsonView, ExportJobViewSet, SavedReportViewSet

router = SimpleRouter()
router.register("exports", ExportJobViewSet, basename="exportjob")
router.register("saved-reports", SavedReportViewSet, basename="savedreport")
urlpatterns = [
    path("exports/eu-annual/", EuAnnualJsonView.as_view(), name="exports-eu-annual"),
    *router.urls,
]
