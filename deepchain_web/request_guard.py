"""First line of defence against hostile requests, before sessions, CSRF or any view.

* A NUL character in the path or the query string is refused (PostgreSQL cannot store or
  compare it; every such lookup would otherwise be a server error).
* Each endpoint has a body-size limit matching what it accepts (:func:`body_limit`): the
  gradient and share uploads and the key ceremony's posts (a round's envelopes, the public
  transcript, a revealed message) one blob (``deepchain_web.limits.upload_body_limit``), every
  other API call ``DEEPCHAIN_API_BODY_BYTES``, the pages ``DEEPCHAIN_PAGE_BODY_BYTES``.
  Larger bodies get 413 (JSON under ``/api/``) before anything reads them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from deepchain_web.limits import upload_body_limit

UPLOAD_PATH = re.compile(
    r"^/api/groups/[0-9]+/(rounds/[0-9]+/(gradient|share)|ceremony/(messages|result|blame))/$"
)


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def body_limit(path: str) -> int:
    """The largest request body, in bytes, the endpoint at ``path`` accepts."""
    if UPLOAD_PATH.match(path):
        return upload_body_limit()
    if path.startswith("/api/"):
        return int(settings.DEEPCHAIN_API_BODY_BYTES)
    return int(settings.DEEPCHAIN_PAGE_BODY_BYTES)


def refusal(request: HttpRequest, status: int, message: str, code: str) -> HttpResponse:
    """A refusal in the caller's language: JSON ``{"message", "code"}`` for the API, a short
    plain page otherwise."""
    if is_api(request):
        return JsonResponse({"message": message, "code": code}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info or any(
            "\x00" in k or any("\x00" in v for v in vs) for k, vs in request.GET.lists()
        ):
            return refusal(request, 400, "NUL characters are not allowed in URLs", "nul")
        limit = body_limit(request.path_info)
        length = request.META.get("CONTENT_LENGTH") or ""
        too_big = False
        if length.isascii() and length.isdigit():
            too_big = int(length) > limit
        elif request.method in ("POST", "PUT", "PATCH"):
            # no declared length (chunked; the ASGI handler has already spooled it): measure
            too_big = len(request.body) > limit
        if too_big:
            return refusal(
                request, 413, f"request body larger than {limit} bytes for this endpoint",
                "too_large",
            )  # fmt: skip
        return self.get_response(request)
