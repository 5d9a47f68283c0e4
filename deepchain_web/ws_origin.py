"""Exact websocket origin check: scheme, host and port of ``Origin`` must be the platform's.

The platform's origin is the one the browser used for the page: the socket's own ``Host``
header (which must be in ALLOWED_HOSTS) with ``http`` for ``ws`` and ``https`` for ``wss``
(behind ``DEEPCHAIN_TRUSTED_PROXIES`` > 0 TLS-terminating proxies, the proxy's
``X-Forwarded-Proto``), plus any origin listed in ``DEEPCHAIN_WS_ORIGINS``. Default ports are
normalised (http:80, https:443); everything else must match exactly. A socket without an
Origin, or with another one (another port of the same host included), is refused (HTTP 403)
before any consumer runs. Channels' own AllowedHostsOriginValidator ignores the port.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(text: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin such as ``https://example.org:8443``, or None."""
    try:
        parts = urlsplit(text.strip())
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


def expected_origins(scope: dict) -> set[tuple[str, str, int]]:
    """The origins a socket with this scope may come from."""
    headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}
    out = {o for o in map(normalise_origin, getattr(settings, "DEEPCHAIN_WS_ORIGINS", [])) if o}
    host = headers.get("host", "")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return out
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    if int(getattr(settings, "DEEPCHAIN_TRUSTED_PROXIES", 0)) > 0:
        proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        scheme = {"https": "https", "wss": "https", "http": "http", "ws": "http"}.get(proto, scheme)
    own = normalise_origin(f"{scheme}://{host}")
    if own:
        out.add(own)
    return out


class ExactOriginValidator:
    """ASGI middleware for websockets: refuse unless the Origin is exactly an expected one."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = normalise_origin(value.decode("latin1"))
        if origin is not None and origin in expected_origins(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
