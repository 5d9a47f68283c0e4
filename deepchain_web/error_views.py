"""Error answers outside the views: JSON ``{"message", "code"}`` under ``/api/``, a friendly
page elsewhere (never Django's debug page: the demo and production run with DEBUG=False)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

PAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Forbidden", "You are not allowed to do this."),
    404: ("Not found", "There is nothing at this address."),
    500: ("Server error", "Something went wrong on our side; it has been logged."),
}


def _answer(request: HttpRequest, status: int, message: str | None = None) -> HttpResponse:
    title, text = PAGES[status]
    if request.path_info.startswith("/api/"):
        code = {400: "bad_request", 403: "forbidden", 404: "not_found", 500: "server_error"}
        return JsonResponse({"message": message or text, "code": code[status]}, status=status)
    html = loader.render_to_string(
        "errors/error.html", {"status": status, "title": title, "text": message or text}
    )
    return HttpResponse(html, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return _answer(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the form was stale or posted from another site."""
    return _answer(request, 403, "This form expired or came from another site: reload the "
                                 "page and try again.")  # fmt: skip
