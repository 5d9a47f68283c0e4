"""REST errors as JSON with a human-readable ``message`` (and DRF's field details)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class DomainError(Exception):
    """A refused business action (insufficient balance, late gradient, ...): HTTP 409.

    The API answers 400 only for a request that does not match its documented schema (the
    serializers); a well-formed request that the ledger or protocol rules refuse in the
    current state is a 409 (or the more specific 403/404 a raiser passes)."""

    status_code = status.HTTP_409_CONFLICT

    def __init__(self, message: str, *, code: str = "invalid", status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        if status_code is not None:
            self.status_code = status_code


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key in {"detail", "non_field_errors"} else f"{key}: {msg}"
        return "invalid request"
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "invalid request"
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"message": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response({"message": "; ".join(exc.messages), "code": "invalid"}, status=400)
    if isinstance(exc, DataError | OverflowError):
        # a value the serializers should have refused: answer 400, log it to be fixed there
        logging.getLogger(__name__).warning("unvalidated input reached the database: %s", exc)
        return Response({"message": "a value is out of range", "code": "out_of_range"}, 400)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data
        body = {"message": _first_message(detail), "code": getattr(exc, "default_code", "error")}
        if isinstance(detail, dict) and set(detail) - {"detail"}:
            body["errors"] = detail
        response.data = body
    return response
