"""Browser test (Playwright + Debian's chromium) against the real Daphne server and a real
Celery worker: sign up, log in, create a group, join with a deposit, watch the dashboard update
over the websocket while a short round runs, see a late party's penalty, and open the admin as
an auditor without write controls. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PASSWORD = "pw-Deep-Chain-1"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium"),
]


@pytest.fixture
def browser(live_server_url, celery_worker, monkeypatch):
    """Chromium (never downloaded). Playwright's sync API runs an event loop in this thread,
    so the test's own ORM calls need DJANGO_ALLOW_ASYNC_UNSAFE (set after the servers started,
    so they don't inherit it)."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _sign_up(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(f"{base}/accounts/profile/")
    assert len(page.inner_text("#address")) == 64


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#nav-user")


def _drive_clock(app, seconds: float) -> None:
    """The beat's job in production: tick the protocol clock and consensus on the worker."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.send_task("training_app.tasks.tick_clock")
        app.send_task("ledger_app.tasks.run_consensus")
        time.sleep(1.0)


@pytest.mark.django_db(transaction=True)
def test_a_round_seen_live_in_the_browser(live_server_url, celery_worker, browser):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from deepchain_web.celery import app
    from training_app import services as training
    from training_app.models import CooperativeGroup

    ARTIFACTS.mkdir(exist_ok=True)
    base = live_server_url
    alice_ctx, bob_ctx = browser.new_context(), browser.new_context()
    alice, bob = alice_ctx.new_page(), bob_ctx.new_page()

    # sign up, log out, log in again
    _sign_up(alice, base, "alice")
    alice.click("text=Log out")
    alice.wait_for_selector("text=Log in")
    _log_in(alice, base, "alice")

    # create a group: N=3, t=1 (the one honest agent can decrypt), one round, tiny model
    alice.goto(f"{base}/groups/new/")
    alice.fill("#id_name", "Digits co-op")
    alice.fill("#id_n_parties", "3")
    alice.fill("#id_threshold", "1")
    alice.fill("#id_rounds", "1")
    alice.fill("#id_deposit", "100")
    alice.select_option("#id_model_name", "tiny")
    alice.fill("#id_local_iterations", "1")
    alice.fill("#id_phase_seconds", "12")
    alice.click("#group-form button[type=submit]")
    alice.wait_for_selector("#group-name")
    assert alice.inner_text("#group-name") == "Digits co-op"
    group_url = alice.url
    alice.click("#join-form button[type=submit]")
    alice.wait_for_selector("#my-status")

    # a second user joins with a deposit; the wallet shows the stake
    _sign_up(bob, base, "bob")
    before = int(bob.inner_text("#balance"))
    bob.goto(group_url)
    bob.click("#join-form button[type=submit]")
    bob.wait_for_selector("#my-status")
    assert "joined" in bob.inner_text(".messages")
    bob.goto(f"{base}/wallet/")
    assert int(bob.inner_text("#wallet-balance")) == before - 100

    # a third, simulated honest party (a party agent run by the Celery worker)
    group = CooperativeGroup.objects.get(name="Digits co-op")
    # a fresh name: simulated agents keep keystores under var/keystore/agents/<username>
    carol = get_user_model().objects.create_user(f"carol-{os.urandom(4).hex()}", password=PASSWORD)
    from ledger_app.services import create_party_account

    create_party_account(user=carol)
    training.join_group(group=group, user=carol, simulated=True, behaviour="honest")

    # open the live dashboard, then start the group from the group page in another tab
    alice.goto(f"{group_url}dashboard/")
    alice.wait_for_function("document.getElementById('dashboard').dataset.conn === 'live'")
    alice.evaluate("window.__noReload = true")
    assert alice.inner_text("#round-no") == "0"
    starter = alice_ctx.new_page()
    starter.goto(group_url)
    starter.click("#start-group")
    starter.wait_for_selector(".messages")
    assert "starting" in starter.inner_text(".messages").lower(), starter.inner_text(".messages")

    # the websocket pushes round 1 (no reload), then the late parties' penalties
    import threading

    ticker = threading.Thread(target=_drive_clock, args=(app, 240), daemon=True)
    ticker.start()
    alice.wait_for_function(
        "document.getElementById('round-no').textContent === '1'", timeout=180_000
    )
    alice.wait_for_function(
        "document.querySelectorAll('#penalties tr').length > 0", timeout=180_000
    )
    assert alice.evaluate("window.__noReload") is True
    # the honest agent's round completes (the screenshot documents where it stood if not)
    with contextlib.suppress(Exception):
        alice.wait_for_function(
            "document.getElementById('dash-status').textContent === 'finished'", timeout=120_000
        )
    assert int(alice.inner_text("#event-count")) > 0
    alice.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    starter.goto(group_url)
    starter.screenshot(path=str(ARTIFACTS / "group.png"), full_page=True)

    # an auditor (staff + ``auditor`` group) sees the admin without write controls
    audrey = get_user_model().objects.create_user("audrey", password=PASSWORD, is_staff=True)
    audrey.groups.add(Group.objects.get_or_create(name="auditor")[0])
    aud = browser.new_context().new_page()
    aud.goto(f"{base}/admin/login/")
    aud.fill("#id_username", "audrey")
    aud.fill("#id_password", PASSWORD)
    aud.click("input[type=submit]")
    aud.goto(f"{base}/admin/ledger_app/transaction/")
    assert aud.locator("a.addlink").count() == 0
    aud.locator("#result_list tbody tr th a").first.click()
    aud.wait_for_load_state()
    assert aud.locator("input[name=_save]").count() == 0
    assert aud.locator("a.deletelink").count() == 0
    aud.screenshot(path=str(ARTIFACTS / "admin-auditor.png"), full_page=True)
