"""The websocket entry point as a hostile client sees it (the full ASGI application: origin
check, sessions, URL routing): a path matching no route is closed with 4404, not an error."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator


async def _open(path: str, origin: str | None = "http://testserver", host: str = "testserver"):
    from deepchain_web.asgi import application

    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await comm.connect(timeout=10)
    if not connected:
        return ("refused", code)
    msg = await comm.receive_output(timeout=10)
    await comm.disconnect()
    return ("closed", msg.get("code")) if msg["type"] == "websocket.close" else ("open", msg)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/nothing/", "/ws/groups/abc/", "/", "/ws/groups/1/x/"])
def test_a_websocket_path_matching_no_route_is_closed_with_4404(path):
    assert async_to_sync(_open)(path) == ("closed", 4404)
