"""Party agents' presence: signed heartbeats, and who is online in a group.

A running agent (``python -m deepchain.party``) signs a heartbeat every few seconds
(``deepchain.wire.heartbeat_message``: group, party, its own clock) with its identity key.
The platform accepts one only from the member's own account key, newer than the last one it
accepted and within ``MAX_SKEW_MS`` of its own clock, and counts the agent online while the
last accepted one is younger than ``settings.DEEPCHAIN_AGENT_ONLINE_S``. A simulated party is
run by the platform's Celery workers, so it is online by construction. A group starts only
when every member's agent is online (``training_app.services.start_group``).
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deepchain.crypto.identity import signature_from_hex, verify_signature
from deepchain.wire import heartbeat_message
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish
from training_app.models import CooperativeGroup, Membership

#: how far a heartbeat's own timestamp may be from the platform's clock
MAX_SKEW_MS = 60_000


def online_window_s() -> float:
    """Seconds after its last heartbeat that an agent still counts as online."""
    return float(getattr(settings, "DEEPCHAIN_AGENT_ONLINE_S", 20.0))


def is_online(m: Membership, now: datetime.datetime | None = None) -> bool:
    """True if ``m``'s agent runs: simulated (the platform's), or a recent heartbeat."""
    if m.simulated:
        return True
    if m.agent_seen_at is None:
        return False
    now = now or timezone.now()
    return (now - m.agent_seen_at).total_seconds() <= online_window_s()


def agent_status(m: Membership, now: datetime.datetime | None = None) -> dict[str, Any]:
    """What the group page and the dashboard show for one member's agent."""
    seen = m.agent_seen_at
    return {
        "online": is_online(m, now),
        "simulated": bool(m.simulated),
        "last_seen": seen.isoformat() if seen else None,
        "last_seen_ms": int(seen.timestamp() * 1000) if seen else None,
    }


def offline_members(group: CooperativeGroup) -> list[Membership]:
    """Active members whose agent is not online (in party-index order)."""
    now = timezone.now()
    ms = group.members.filter(status=Membership.Status.ACTIVE).select_related("user")
    return [m for m in ms.order_by("party_index", "id") if not is_online(m, now)]


def record_heartbeat(*, group: CooperativeGroup, user, at_ms: Any, signature: Any) -> Membership:
    """Accept a signed heartbeat from ``user``'s agent in ``group`` (see the module doc)."""
    if not isinstance(at_ms, int) or isinstance(at_ms, bool):
        raise DomainError("at_ms must be an integer (milliseconds)", code="bad_heartbeat")
    sig = signature_from_hex(signature) if isinstance(signature, str) else None
    if sig is None:
        raise DomainError("signature must be 128 lowercase hex digits", code="bad_signature")
    if abs(at_ms - int(time.time() * 1000)) > MAX_SKEW_MS:
        raise DomainError("the heartbeat's time is more than 60 s from the platform's clock",
                          code="stale")  # fmt: skip
    with transaction.atomic():
        m = (
            Membership.objects.select_for_update()
            .select_related("account", "group")
            .filter(group=group, user=user, status=Membership.Status.ACTIVE)
            .first()
        )
        if m is None:
            raise DomainError("only an active party of this group sends heartbeats",
                              code="forbidden", status_code=403)  # fmt: skip
        msg = heartbeat_message(m.group.address, m.account.address, at_ms)
        if not verify_signature(m.account.address, msg, sig):
            raise DomainError("the heartbeat is not signed by this party's key",
                              code="bad_signature")  # fmt: skip
        if at_ms <= m.agent_heartbeat_ms:
            raise DomainError("a heartbeat older than the last one accepted", code="replay")
        was_online = is_online(m)
        m.agent_heartbeat_ms = at_ms
        m.agent_seen_at = timezone.now()
        m.save(update_fields=["agent_heartbeat_ms", "agent_seen_at"])
        if not was_online:
            publish(m.group_id, "agent_online", party=m.account.address, index=m.party_index)
    return m
