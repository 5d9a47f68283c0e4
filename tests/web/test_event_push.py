"""A protocol event reaches the dashboard's channel group also when it is published from a
thread that runs an event loop (a server's or a browser driver's), not only from plain code."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer

from deepchain_web import events


async def _subscribe_then(send, group_id: int) -> dict:
    layer = get_channel_layer()
    name = await layer.new_channel()
    await layer.group_add(events.group_channel_name(group_id), name)
    try:
        send()
        return await asyncio.wait_for(layer.receive(name), timeout=10)
    finally:
        await layer.group_discard(events.group_channel_name(group_id), name)


def test_an_event_sent_from_a_thread_running_an_event_loop_is_delivered(caplog):
    got = asyncio.run(_subscribe_then(lambda: events.send_now(4242, {"type": "ping"}), 4242))
    assert got == {"type": "protocol.event", "payload": {"type": "ping"}}
    assert "could not push" not in caplog.text
