"""Throttles hold against a hostile client: keyed on the user and on the real client address
(a configured trusted-proxy count, never a client-sent X-Forwarded-For), on log-in, token,
sign-up and every write; the faucet has its own limit; refusals cannot grow the chain."""

from __future__ import annotations

import itertools
import time

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from deepchain_web import throttling

pytestmark = pytest.mark.django_db

_ip = itertools.count(1)


@pytest.fixture
def rates(settings, monkeypatch):
    """Production-like counts (no test scaling), small enough to reach in a test; the clock
    stands one second into an hour, so a run never straddles a window boundary."""
    start = (time.time() // 3600) * 3600 + 1
    monkeypatch.setattr(throttling, "clock", lambda: start)
    settings.DEEPCHAIN_THROTTLE_SCALE = 1
    settings.DEEPCHAIN_RATES = {**settings.DEEPCHAIN_RATES, "login": "10/minute",
                                "signup": "3/hour", "write": "8/minute"}  # fmt: skip
    cache.clear()
    yield settings
    cache.clear()


def _spoofed() -> str:
    n = next(_ip)
    return f"203.0.113.{n % 250}, 198.51.100.{n % 250}"


def test_the_token_throttle_holds_under_a_rotating_x_forwarded_for(rates, make_user):
    user = make_user("victim")
    client = APIClient()
    codes = [
        client.post("/api/auth/token/", {"username": "victim", "password": f"guess{i}"},
                    format="json", HTTP_X_FORWARDED_FOR=_spoofed()).status_code
        for i in range(14)
    ]  # fmt: skip
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
    r = client.post("/api/auth/token/", {"username": "victim", "password": user.raw_password},
                    format="json", HTTP_X_FORWARDED_FOR=_spoofed())  # fmt: skip
    assert r.status_code == 429 and "token" not in r.json() and r["Retry-After"]
    assert r.json()["message"]


def test_the_token_throttle_keys_on_the_username_across_addresses(rates, make_user):
    make_user("target")
    codes = [
        APIClient(REMOTE_ADDR=f"10.0.0.{i}")
        .post("/api/auth/token/", {"username": "target", "password": "x"}, format="json")
        .status_code
        for i in range(12)
    ]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes


def test_the_login_page_throttle_holds_under_a_rotating_x_forwarded_for(rates, make_user):
    user = make_user("pagevictim")
    client = Client()
    codes = [
        client.post("/accounts/login/", {"username": "pagevictim", "password": f"g{i}"},
                    HTTP_X_FORWARDED_FOR=_spoofed()).status_code
        for i in range(35)
    ]  # fmt: skip
    assert codes[:10] == [200] * 10 and set(codes[10:]) == {429}, codes
    r = client.post("/accounts/login/", {"username": "pagevictim", "password": user.raw_password},
                    HTTP_X_FORWARDED_FOR=_spoofed())  # fmt: skip
    assert r.status_code == 429 and "_auth_user_id" not in client.session


def test_behind_one_trusted_proxy_the_proxy_seen_address_is_the_key(rates, make_user):
    """With DEEPCHAIN_TRUSTED_PROXIES = 1 the client is the last X-Forwarded-For entry (the
    proxy appends it): entries a client prepends change nothing, another client is separate."""
    rates.DEEPCHAIN_TRUSTED_PROXIES = 1
    make_user("proxied")
    proxy = APIClient(REMOTE_ADDR="127.0.0.1")

    def attempt(real: str, forged: str = "") -> int:
        xff = f"{forged}, {real}" if forged else real
        return proxy.post("/api/auth/token/", {"username": f"n{next(_ip)}", "password": "x"},
                          format="json", HTTP_X_FORWARDED_FOR=xff).status_code  # fmt: skip

    codes = [attempt("192.0.2.7", forged=f"10.9.9.{i}") for i in range(12)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
    assert attempt("192.0.2.8") == 401  # another real client behind the same proxy


def test_sign_up_is_throttled_per_address(rates):
    from django.contrib.auth import get_user_model

    client = Client(REMOTE_ADDR="10.1.1.1")
    codes = []
    for i in range(5):
        pw = "pw-Deep-Chain-1"
        form = {"username": f"newbie{i}", "password1": pw, "password2": pw}
        r = client.post("/accounts/signup/", form)
        codes.append(r.status_code)
        client.logout()
    assert codes[:3] == [302] * 3 and set(codes[3:]) == {429}, codes
    assert get_user_model().objects.filter(username__startswith="newbie").count() == 3


def test_every_api_write_is_throttled_per_user(rates, make_user):
    user = make_user("writer")
    client = APIClient()
    client.force_authenticate(user)
    codes = [client.post("/api/groups/", {}, format="json").status_code for _ in range(10)]
    assert codes[:8] == [400] * 8 and set(codes[8:]) == {429}, codes
    # reads are not writes
    assert client.get("/api/groups/").status_code == 200


def test_the_faucet_pays_within_its_own_limit_and_money_stays_exact(rates, make_user):
    from deepchain_web.api_errors import DomainError
    from ledger_app import selectors
    from ledger_app.models import Account

    rates.DEEPCHAIN_RATES = {**rates.DEEPCHAIN_RATES, "faucet": "3/hour"}
    users = [make_user(f"grantee{i}", grant=500) for i in range(3)]
    with pytest.raises(DomainError) as exc:
        make_user("one-too-many", grant=500)
    assert exc.value.status_code == 429 and exc.value.code == "faucet_limit"
    assert [Account.objects.get(user=u).balance for u in users] == [500] * 3
    faucet = Account.objects.get(kind="faucet")
    total, supply = selectors.total_supply_check()
    assert total == supply and faucet.balance >= 0
    verdict = selectors.verify_chain(protocol=False)
    assert verdict.ok, verdict.verdict()


def test_a_refused_request_cannot_grow_the_chain_unboundedly(rates, make_user):
    from ledger_app import selectors
    from ledger_app.models import RefusalTally, Transaction

    rates.DEEPCHAIN_RATES = {**rates.DEEPCHAIN_RATES, "write": "1000/minute",
                             "rejection": "3/minute"}  # fmt: skip
    user = make_user("spammer", grant=10)
    client = APIClient()
    client.force_authenticate(user)
    me = user.account.address
    before = Transaction.objects.count()
    for _ in range(50):  # a refused transfer to oneself, fifty times
        r = client.post("/api/ledger/transfer/", {"to": me, "amount": 5}, format="json")
        assert r.status_code == 409 and r.json()["message"]
    grown = Transaction.objects.count() - before
    assert grown <= 2 * 3, grown  # <= budget x (rejected row + REJECTION record)
    tally = RefusalTally.objects.get(sender=me)
    assert tally.count == 50 and tally.recorded == 3
    assert selectors.verify_chain(protocol=False).ok
