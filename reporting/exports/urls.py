from django.urls import path
from rest_framework.routers import SimpleRouter

from reporting.exports.api import EuAnnualJsonView, ExportJobViewSet

router = SimpleRouter()
router.register("exports", ExportJobViewSet, basename="exportjob")
urlpatterns = [
    path("exports/eu-annual/", EuAnnualJsonView.as_view(), name="exports-eu-annual"),
    *router.urls,
]
