from rest_framework.routers import DefaultRouter

from connectors.api.views import PullViewSet, SourceViewSet

router = DefaultRouter()
router.register("connector-sources", SourceViewSet, basename="connector-source")
router.register("connector-pulls", PullViewSet, basename="connector-pull")
urlpatterns = router.urls
