"""Serializer fields that accept exactly the JSON type the OpenAPI schema documents.

DRF's own fields coerce: ``CharField`` turns 0 into "0", ``IntegerField`` accepts "5" and
5.0, ``FloatField`` accepts "0.5". A client that sends the wrong type gets a 400 here.
"""

from __future__ import annotations

from rest_framework import serializers


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
