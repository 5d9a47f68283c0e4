"""URL configuration: pages, admin, REST API and its OpenAPI schema."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Assets from drf-spectacular-sidecar (this host); the Swagger init script is a separate
    # same-origin request (?script), so neither page needs an inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="frontend/api/swagger_ui.html"
        ),
        name="swagger",
    ),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="frontend/api/redoc.html"),
        name="redoc",
    ),
    path("api/ledger/", include("ledger_app.urls")),
    path("api/", include("training_app.urls")),
    path("", include("frontend.urls")),
]

handler400 = "deepchain_web.error_views.bad_request"
handler403 = "deepchain_web.error_views.permission_denied"
handler404 = "deepchain_web.error_views.page_not_found"
handler500 = "deepchain_web.error_views.server_error"
