"""What the training API's endpoints share: the group, membership and round a request names,
and the bytes of a base64 field within the upload limit."""

from __future__ import annotations

import binascii
from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from deepchain.wire import b64d
from deepchain_web.api_errors import DomainError
from deepchain_web.limits import base64_len, max_blob
from training_app import selectors
from training_app.models import CooperativeGroup, Membership, Round


def group_for(request, group_id: int) -> CooperativeGroup:
    """The group ``group_id`` if the user may see it (404 otherwise)."""
    return get_object_or_404(selectors.visible_groups(request.user), pk=group_id)


def member_of(request, group: CooperativeGroup) -> Membership:
    """The user's active membership of ``group`` (403 otherwise)."""
    m = selectors.membership_of(group, request.user)
    if m is None:
        raise PermissionDenied("only an active party of this group may do this")
    return m


def member_round_body(
    request, group_id: int, number: int, serializer: type[serializers.Serializer]
) -> tuple[CooperativeGroup, Membership, dict[str, Any]]:
    """(the group, my membership, the validated body) of a member's request about round
    ``number`` of ``group_id``: 404, 403, 404, then 400, in that order."""
    g = group_for(request, group_id)
    m = member_of(request, g)
    round_of(g, number)
    ser = serializer(data=request.data)
    ser.is_valid(raise_exception=True)
    return g, m, ser.validated_data


def round_of(group: CooperativeGroup, number: int) -> Round:
    """Round ``number`` of ``group`` (404 otherwise)."""
    return get_object_or_404(Round, group=group, number=number)


def blob_field(text: str, what: str, limit: int | None = None, why: str = "") -> bytes:
    """The bytes of a base64 field of at most ``limit`` bytes (DEEPCHAIN_MAX_BLOB)."""
    if not isinstance(text, str):
        raise DomainError(f"{what}: expected a base64 string", code="bad_blob")
    limit = max_blob() if limit is None else limit
    too_large = DomainError(f"{what}: larger than {limit} bytes{why}", code="too_large",
                            status_code=413)  # fmt: skip
    if len(text) > base64_len(limit):
        raise too_large
    try:
        data = b64d(text)
    except (binascii.Error, ValueError):
        raise DomainError(f"{what}: not valid base64", code="bad_blob") from None
    if len(data) > limit:
        raise too_large
    return data
