"""Content-Security-Policy on every response: this platform's own origin only.

Scripts only from this origin's static files (no inline script, no eval); styles from its
static files, plus inline ``style`` attributes (they cannot run code; ``style-src-attr``);
images from itself (and ``data:``); the dashboard socket to this host only; no plugins, no
framing, forms post only here. The API docs pages (Swagger UI, ReDoc: third-party bundles
served from here) also need inline ``<style>`` elements and a ``blob:`` worker (ReDoc's
search), nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

DOCS_PATHS = ("/api/docs/", "/api/redoc/")


def policy(request: HttpRequest) -> str:
    """The Content-Security-Policy header value for ``request``."""
    host = request.get_host()
    docs = request.path_info.startswith(DOCS_PATHS)
    style = "style-src 'self' 'unsafe-inline'" if docs else "style-src 'self'"
    parts = [
        "default-src 'self'",
        "script-src 'self'",
        style,
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src 'self' ws://{host} wss://{host}",
        "worker-src 'self' blob:" if docs else "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(parts)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            try:
                response["Content-Security-Policy"] = policy(request)
            except Exception:  # noqa: BLE001 - a disallowed Host: no page to protect
                response["Content-Security-Policy"] = "default-src 'none'"
        return response
