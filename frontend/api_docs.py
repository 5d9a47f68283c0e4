"""The ReDoc bundle, served from this host with its one hard-coded third-party URL (the
Redocly logo in the sidebar, fetched from a CDN on every page view) pointed at a local copy.

The bundle is drf-spectacular-sidecar's; nothing else in it is changed.
"""

from __future__ import annotations

from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOC_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
LOCAL_LOGO = "frontend/redoc-logo-mini.svg"


@lru_cache(maxsize=1)
def redoc_bundle_text() -> str:
    """The sidecar's ReDoc standalone bundle with the logo URL made local."""
    path = finders.find(REDOC_BUNDLE)
    if not path:
        raise FileNotFoundError(REDOC_BUNDLE)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    return text.replace(REDOC_LOGO_URL, static(LOCAL_LOGO))


@require_GET
@cache_control(public=True, max_age=86400)
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """GET the ReDoc bundle (application/javascript)."""
    return HttpResponse(redoc_bundle_text(), content_type="application/javascript")
