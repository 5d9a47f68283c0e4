"""Push protocol events to a group's live dashboard (Channels group ``group.<id>``).

Call ``publish`` inside the database transaction that made the change: the event is sent
only after that transaction commits, so the dashboard never shows what was rolled back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def group_channel_name(group_id: int) -> str:
    return f"group.{group_id}"


def group_send(channel_group: str, payload: dict[str, Any]) -> None:
    """Send ``payload`` to a Channels group from synchronous code, also from a thread that
    runs an event loop (async_to_sync refuses that thread, so the send runs beside it)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "protocol.event", "payload": payload}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(channel_group, message)
        return
    errors: list[BaseException] = []

    def run() -> None:
        try:
            async_to_sync(layer.group_send)(channel_group, message)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def send_now(group_id: int, payload: dict[str, Any]) -> None:
    try:
        group_send(group_channel_name(group_id), payload)
    except Exception:  # a dashboard push must never break the protocol step that made it
        log.warning("could not push %s to group %s", payload.get("type"), group_id, exc_info=True)


def publish(group_id: int, event_type: str, **data: Any) -> None:
    """Send ``{"type": event_type, "group": group_id, **data}`` once the transaction commits."""
    payload = {"type": event_type, "group": group_id, **data}
    transaction.on_commit(lambda: send_now(group_id, payload))


def address_channel_name(group_address: str) -> str:
    """The channel group of a group's on-chain address (for layers that know no group id)."""
    return f"groupaddr.{group_address}"


def publish_to_address(group_address: str, event_type: str, **data: Any) -> None:
    """Like :func:`publish`, addressed by the group's on-chain address (e.g. a new block
    holding its transactions, from the ledger, which knows no training group ids)."""
    payload = {"type": event_type, **data}

    def send() -> None:
        try:
            group_send(address_channel_name(group_address), payload)
        except Exception:
            log.warning("could not push %s to %s", event_type, group_address, exc_info=True)

    transaction.on_commit(send)
