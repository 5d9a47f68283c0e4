"""Request throttles keyed on the authenticated user and on the real client address.

The client address is ``REMOTE_ADDR`` unless ``DEEPCHAIN_TRUSTED_PROXIES`` = N > 0 reverse
proxies sit in front of the platform: then it is the N-th address from the right of
``X-Forwarded-For`` (the one the outermost trusted proxy saw). A client-sent
``X-Forwarded-For`` is never trusted beyond that: with N = 0 it is ignored, and with N > 0
the entries a client prepends are to the left of the ones the proxies append.

Rates (``DEEPCHAIN_RATES``, "<count>/<second|minute|hour|day>") are counted in fixed windows
in the Django cache (Redis in production, so every process shares them). Bound: at most
``count`` requests per key in each window, hence at most 2 x ``count`` in any interval of one
window's length (a burst straddling a window boundary). ``DEEPCHAIN_THROTTLE_SCALE``
multiplies every count (load tests, the schema fuzzer); 1 by default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

clock = time.time  # the windows' clock; a test pins it to stay inside one window


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "10/minute" (also "10/min", "10/m"): ``count`` requests per period."""
        n, _, unit = text.partition("/")
        unit = unit.strip().lower()
        period = next((s for name, s in PERIODS.items() if name.startswith(unit)), None)
        if not n.strip().isdigit() or not unit or period is None:
            raise ValueError(f"bad rate {text!r}: expected <count>/<second|minute|hour|day>")
        return cls(int(n), period)


def rate(scope: str) -> Rate:
    """The configured rate of ``scope`` (settings.DEEPCHAIN_RATES), scaled."""
    r = Rate.parse(settings.DEEPCHAIN_RATES[scope])
    scale = max(1, int(getattr(settings, "DEEPCHAIN_THROTTLE_SCALE", 1)))
    return Rate(r.count * scale, r.period_s)


def client_address(request) -> str:
    """The real client address (see the module docstring); never a raw client header."""
    meta = getattr(request, "META", {})
    remote = str(meta.get("REMOTE_ADDR") or "unknown")
    n = int(getattr(settings, "DEEPCHAIN_TRUSTED_PROXIES", 0))
    if n <= 0:
        return remote
    chain = [a.strip() for a in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if a.strip()]
    return chain[-n] if len(chain) >= n else (chain[0] if chain else remote)


def hit(scope: str, ident: str, now: float | None = None) -> float | None:
    """Count one request of ``ident`` in ``scope``; None if allowed, else the seconds until
    the window resets (the request is refused)."""
    r = rate(scope)
    t = clock() if now is None else now
    window = int(t // r.period_s)
    key = f"throttle:{scope}:{ident}:{window}"
    cache = caches["default"]
    cache.add(key, 0, timeout=r.period_s + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=r.period_s + 1)
        count = 1
    if count > r.count:
        return (window + 1) * r.period_s - t
    return None


def user_or_address(request) -> str:
    """The key of a caller: its user id when signed in, else its client address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"addr:{client_address(request)}"


class ScopedThrottle(BaseThrottle):
    """A DRF throttle over :func:`hit`; subclasses name the scope and the key(s)."""

    scope = "write"

    def keys(self, request, view) -> list[str]:
        return [user_or_address(request), f"addr:{client_address(request)}"]

    def applies(self, request) -> bool:
        return request.method not in SAFE_METHODS

    def allow_request(self, request, view) -> bool:
        self._wait = None
        if not self.applies(request):
            return True
        for ident in dict.fromkeys(self.keys(request, view)):
            wait = hit(self.scope, ident)
            if wait is not None:
                self._wait = wait
                return False
        return True

    def wait(self) -> float | None:
        return self._wait

    def get_ident(self, request) -> str:
        return client_address(request)


class WriteThrottle(ScopedThrottle):
    """Every API write (POST/PUT/PATCH/DELETE): per user and per client address."""

    scope = "write"


class TokenThrottle(ScopedThrottle):
    """Token requests: per client address and per username tried (password guessing)."""

    scope = "login"

    def keys(self, request, view) -> list[str]:
        data = request.data if isinstance(request.data, dict) else {}
        name = data.get("username")
        keys = [f"addr:{client_address(request)}"]
        if isinstance(name, str) and name:
            keys.append(f"username:{name.lower()[:150]}")
        return keys


def page_scope(request) -> tuple[str, list[str]] | None:
    """The throttle scope and keys of a page request (the API throttles in DRF), or None."""
    if request.method in SAFE_METHODS or request.path_info.startswith("/api/"):
        return None
    addr = f"addr:{client_address(request)}"
    path = request.path_info
    if path.startswith("/accounts/login/"):
        name = request.POST.get("username") or ""
        return "login", [addr] + ([f"username:{name.lower()[:150]}"] if name else [])
    if path.startswith("/accounts/signup/"):
        return "signup", [addr]
    return "write", list(dict.fromkeys([user_or_address(request), addr]))


class PageThrottleMiddleware:
    """Throttles the pages' writes: log-in (per address and per username tried), sign-up (per
    address) and every other POST (per user and per address). Answers 429 with Retry-After."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        scoped = page_scope(request)
        if scoped is not None:
            scope, keys = scoped
            for ident in keys:
                wait = hit(scope, ident)
                if wait is not None:
                    return too_many(request, wait)
        return self.get_response(request)


def too_many(request, wait: float):
    """The 429 page (JSON under /api/), with Retry-After."""
    from deepchain_web.request_guard import refusal

    seconds = max(1, int(wait + 0.999))
    resp = refusal(request, 429, f"Too many requests: try again in {seconds} s.", "throttled")
    resp["Retry-After"] = str(seconds)
    return resp
