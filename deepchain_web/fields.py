"""Request serializers and fields that accept exactly what the OpenAPI schema documents.

DRF's own fields coerce: ``CharField`` turns 0 into "0", ``IntegerField`` accepts "5" and
5.0, ``FloatField`` accepts "0.5"; and a DRF serializer drops keys it does not know, so a
misspelt option ("treshold") would silently take its default. A client that sends the wrong
type or an unknown key gets a 400 here, and the schema says so (``additionalProperties``).
"""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers
from rest_framework.settings import api_settings

SHOWN_UNKNOWN = 10  # unknown keys named in the message (the rest counted)


class RequestSerializer(serializers.Serializer):
    """A JSON object with only the fields below: any other key is refused with 400."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(k) for k in data if k not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {api_settings.NON_FIELD_ERRORS_KEY: [unknown_keys_message(unknown)]}
                )
        return super().to_internal_value(data)


def unknown_keys_message(unknown: list[str]) -> str:
    """``unknown field(s): a, b`` (each name cut to 40 characters, at most SHOWN_UNKNOWN)."""
    shown = ", ".join(repr(k[:40]) for k in unknown[:SHOWN_UNKNOWN])
    more = f" and {len(unknown) - SHOWN_UNKNOWN} more" if len(unknown) > SHOWN_UNKNOWN else ""
    return f"unknown field(s): {shown}{more}"


class RequestSerializerSchema(OpenApiSerializerExtension):
    """Documents a RequestSerializer body as closed: ``additionalProperties: false``."""

    target_class = RequestSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


class StrictCharField(serializers.CharField):
    """A JSON string, kept as sent (no trimming); non-empty unless ``allow_blank``, as the
    schema documents (minLength 1)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("trim_whitespace", False)
        if not kwargs.get("allow_blank") and "min_length" not in kwargs:
            kwargs["min_length"] = 1
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (not a string, a float or a boolean)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number (not a string or a boolean)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean (not a string or a number)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)
