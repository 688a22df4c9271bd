from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from circulus import views
from connectors.api.urls import router as connectors_router
from hardware.api.urls import router as hardware_router
from registry.api.urls import router as registry_router
from registry.views import asset_by_tag
from reporting.api.urls import router as reporting_router
from reporting.exports.urls import router as exports_router

# One browsable root for every app: each app's router would list only its own collections, and
# the first one mounted at api/ answered for all.
API_ROOT = {
    prefix: f"{basename}-list"
    for router in (
        hardware_router,
        registry_router,
        reporting_router,
        exports_router,
        connectors_router,
    )
    for prefix, _viewset, basename in router.registry
} | {
    name: name
    for name in (
        "circularity",
        "aggregates",
        "reuse-candidates",
        "reuse-requests",
        "reuse-measurements",
    )
}

urlpatterns = [
    path("", views.home, name="home"),
    path("docs/<slug:name>/", views.doc, name="doc"),
    # Browsers ask for /favicon.ico on pages that link no icon (the admin, the API).
    path("favicon.ico", RedirectView.as_view(url=static("circulus/favicon.svg"), permanent=True)),
    # A login for every role: the admin's own login admits staff accounts only.
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="home"), name="logout"),
    # What an asset label's QR code holds: short, and stable while the tag is.
    path("a/<path:tag>/", asset_by_tag, name="asset-by-tag"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", views.SwaggerOrLogin.as_view(url_name="schema"), name="api-docs"),
    path("api/", views.ApiRoot.as_view(api_root_dict=API_ROOT), name="api-root"),
    # Each app owns its routes; paths do not overlap.
    path("api/", include("hardware.api.urls")),
    path("api/", include("registry.api.urls")),
    path("api/", include("reporting.api.urls")),
    path("api/", include("reporting.exports.urls")),
    path("api/", include("connectors.api.urls")),
]

# API paths answer errors raised outside DRF (body too large, NUL in the URL) as JSON.
handler400 = "circulus.api.bad_request"
handler403 = "circulus.api.permission_denied"
handler404 = "circulus.api.page_not_found"
handler500 = "circulus.api.server_error"

admin.site.site_header = "Circulus"
admin.site.site_title = "Circulus"
admin.site.index_title = "Data-centre reporting and circular registry"
