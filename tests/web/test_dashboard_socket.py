"""The dashboard websocket: refuses anonymous and unauthorised users, snapshots on connect,
relays published events, and re-sends a snapshot on request (reconnect catch-up)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from frontend.consumers import GroupDashboardConsumer


async def _talk(user, group_id: int, publish=None):
    app = GroupDashboardConsumer.as_asgi()
    comm = WebsocketCommunicator(app, f"/ws/groups/{group_id}/")
    comm.scope["user"] = user
    comm.scope["url_route"] = {"kwargs": {"group_id": group_id}}
    connected, _ = await comm.connect()
    out = []
    first = await comm.receive_output(timeout=10)
    if first["type"] == "websocket.close":
        await comm.disconnect()
        return ("closed", first.get("code"))
    import json

    out.append(json.loads(first["text"]))
    if publish is not None:
        from channels.db import database_sync_to_async

        await database_sync_to_async(publish)()
        out.append(await comm.receive_json_from(timeout=10))
        await comm.send_json_to({"action": "snapshot"})
        out.append(await comm.receive_json_from(timeout=10))
    await comm.disconnect()
    return ("open", out)


@pytest.mark.django_db(transaction=True)
def test_dashboard_socket_permissions_snapshot_and_live_events(make_user, make_group):
    from deepchain_web.events import send_now

    alice, mallory = make_user("alice"), make_user("mallory")
    group = make_group(alice)
    assert async_to_sync(_talk)(AnonymousUser(), group.id) == ("closed", 4401)
    assert async_to_sync(_talk)(mallory, group.id) == ("closed", 4403)
    assert async_to_sync(_talk)(alice, group.id + 999) == ("closed", 4404)
    state, msgs = async_to_sync(_talk)(
        alice, group.id, publish=lambda: send_now(group.id, {"type": "penalty", "amount": 7})
    )
    assert state == "open"
    assert msgs[0]["type"] == "snapshot" and msgs[0]["group"] == group.id
    assert msgs[1] == {"type": "penalty", "amount": 7}
    assert msgs[2]["type"] == "snapshot"
