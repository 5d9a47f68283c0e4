"""The API's only request parser: JSON, bounded in depth, without NUL characters.

A body nested thousands deep makes Python's decoder raise RecursionError, and PostgreSQL
refuses NUL in text and JSON columns: both are refused here as a 400 before any view runs.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from deepchain_web.limits import MAX_JSON_DEPTH


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a decoded JSON value is refused (too deep, a NUL character), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "strings may not contain NUL characters"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"JSON nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for k, v in item.items():
                    if "\x00" in k:
                        return "keys may not contain NUL characters"
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


class SafeJSONParser(JSONParser):
    """JSONParser that refuses NaN/Infinity, nesting deeper than MAX_JSON_DEPTH and NUL."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - body is not {encoding}") from exc
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {str(exc)[:200]}") from None
        why = json_problem(data)
        if why:
            raise ParseError(f"JSON parse error - {why}")
        return data
