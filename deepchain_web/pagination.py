"""Limit/offset paging that refuses malformed values (400) instead of silently ignoring them."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from deepchain_web.limits import INT32_MAX


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` in 1..max_limit, ``offset`` in 0..2^31-1, ASCII digits only; else 400."""

    max_limit = 500

    def _param(self, request, name: str, low: int, high: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise ValidationError({name: [f"must be an integer from {low} to {high}"]})
        return int(raw)

    def get_limit(self, request) -> int:
        limit = self._param(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request) -> int:
        offset = self._param(request, self.offset_query_param, 0, INT32_MAX)
        return 0 if offset is None else offset

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == self.limit_query_param:
                p["schema"].update({"minimum": 1, "maximum": self.max_limit})
            elif p["name"] == self.offset_query_param:
                p["schema"].update({"minimum": 0, "maximum": INT32_MAX})
        return params
