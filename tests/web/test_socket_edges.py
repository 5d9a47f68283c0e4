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


# -- the exact origin check ----------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "host,origin,allowed",
    [("testserver", "http://testserver", True),
     ("testserver:8000", "http://testserver:8000", True),
     ("testserver", "http://testserver:80", True),  # the default port, written out
     ("testserver", "http://testserver:8001", False),  # same host, another port
     ("testserver:8000", "http://testserver", False),  # port 80 is not 8000
     ("testserver", "https://testserver", False),  # another scheme
     ("testserver", "http://evil.example", False),
     ("testserver", "http://testserver.evil.example", False),
     ("testserver", None, False),  # no Origin at all
     ("evil.example", "http://evil.example", False)],  # a Host outside ALLOWED_HOSTS
)  # fmt: skip
def test_the_websocket_origin_must_match_scheme_host_and_port(host, origin, allowed):
    result = async_to_sync(_open)("/ws/nothing/", origin=origin, host=host)
    # allowed: reaches the router (no route: 4404); refused: closed before accept (HTTP 403)
    assert result[0] == ("closed" if allowed else "refused"), result
    if allowed:
        assert result == ("closed", 4404)


@pytest.mark.django_db(transaction=True)
def test_a_configured_extra_origin_is_accepted_exactly(settings):
    settings.DEEPCHAIN_WS_ORIGINS = ["https://app.example:8443"]
    assert async_to_sync(_open)("/ws/nothing/", origin="https://app.example:8443") == (
        "closed", 4404)  # fmt: skip
    assert async_to_sync(_open)("/ws/nothing/", origin="https://app.example")[0] == "refused"


# -- Content-Security-Policy ---------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/signup/", "/groups/",
                                 "/api/docs/", "/api/redoc/", "/no/such/page/"])  # fmt: skip
def test_every_page_has_a_self_only_policy_and_no_inline_script(client, url):
    import re

    r = client.get(url)
    csp = r["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp, csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "http:" not in csp.replace("ws://", "").replace("wss://", "")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", r.content.decode(), flags=re.S)
    inline = [body for attrs, body in scripts if "src=" not in attrs and body.strip()
              and "application/json" not in attrs]  # fmt: skip
    assert not inline, (url, inline[:1])
    assert not re.search(r"\son[a-z]+=\"", r.content.decode()), url  # no inline handlers


@pytest.mark.django_db
def test_the_policy_allows_the_dashboard_socket_to_this_host_only(client):
    csp = client.get("/", HTTP_HOST="localhost:8000")["Content-Security-Policy"]
    assert "connect-src 'self' ws://localhost:8000 wss://localhost:8000" in csp
