"""Browser test (Playwright + Debian's chromium) against the real Daphne server and a real
Celery worker: sign up, log in, create a group, join with a deposit, watch the dashboard update
over the websocket while a short round runs (one document throughout: no reload, no
navigation), see the absent parties' penalties, the collaborative model's accuracy and loss
points on the Chart.js charts and the honest party's payouts, and open the admin as an auditor
without write controls. Screenshots of the dashboard, group page and admin go to
test-artifacts/ (gitignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PASSWORD = "pw-Deep-Chain-1"
DEPOSIT = 100
#: Deadlines are cumulative (T_tk = start + the windows up to k, in run order) and the absent
#: parties make T1 and T5 run to their deadlines, so a round lasts about TRAINING + 7 * PHASE
#: seconds. T1 is where the honest agent trains: generous for 2 busy cores; the rest are short
#: (a phase closed late pushes the later deadlines back, Algorithm 1's updateTime).
TRAINING_SECONDS = 30
PHASE_SECONDS = 8
WAIT_MS = 180_000

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


class _Clock(threading.Thread):
    """The beat's job in production: tick the protocol clock and consensus on the worker,
    once a second, until stopped."""

    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app, self.halt = app, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(1.0):
            with contextlib.suppress(Exception):  # a broker hiccup: the next beat retries
                self.app.send_task("training_app.tasks.tick_clock")
                self.app.send_task("ledger_app.tasks.run_consensus")


def _js_until(page, expression: str, what: str, timeout: int = WAIT_MS) -> None:
    """Poll a JS predicate in the page (no reload); on timeout, fail saying what was awaited
    and leave a screenshot of where the page stood."""
    try:
        page.wait_for_function(expression, timeout=timeout, polling=500)
    except Exception as exc:
        page.screenshot(path=str(ARTIFACTS / "dashboard-timeout.png"), full_page=True)
        raise AssertionError(f"dashboard never showed {what}: {exc}") from exc


def _column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tr", f"rows => rows.map(r => r.children[{index}].textContent.trim())"
    )


def _series(page, canvas: str, label: str) -> list[float]:
    """The non-null points of one dataset, read from the live Chart.js instance."""
    return page.evaluate(
        """([canvas, label]) => {
            const chart = window.Chart && window.Chart.getChart(canvas);
            const ds = chart ? chart.data.datasets.find((d) => d.label === label) : null;
            return ds ? ds.data.filter((v) => v !== null && v !== undefined) : [];
        }""",
        [canvas, label],
    )


@pytest.mark.django_db(transaction=True)
def test_a_round_seen_live_in_the_browser(live_server_url, celery_worker, browser):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from deepchain_web.celery import app
    from ledger_app.services import create_party_account
    from training_app import services as training
    from training_app.models import CooperativeGroup

    ARTIFACTS.mkdir(exist_ok=True)
    base = live_server_url
    alice_ctx, bob_ctx = browser.new_context(), browser.new_context()
    for ctx in (alice_ctx, bob_ctx):
        ctx.set_default_timeout(60_000)  # page loads on a loaded 2-core CI
    alice, bob = alice_ctx.new_page(), bob_ctx.new_page()

    # sign up, log out, log in again
    _sign_up(alice, base, "alice")
    alice.click("text=Log out")
    alice.wait_for_selector("text=Log in")
    _log_in(alice, base, "alice")

    # create a group: N=3, t=1 (the one honest agent can decrypt), one round, tiny model.
    # alice and bob are browser users who never submit: the absent parties the clock penalises.
    alice.goto(f"{base}/groups/new/")
    alice.fill("#id_name", "Digits co-op")
    alice.fill("#id_n_parties", "3")
    alice.fill("#id_threshold", "1")
    alice.fill("#id_rounds", "1")
    alice.fill("#id_deposit", str(DEPOSIT))
    alice.select_option("#id_model_name", "tiny")
    alice.fill("#id_local_iterations", "5")
    alice.fill("#id_phase_seconds", str(PHASE_SECONDS))
    alice.fill("#id_training_seconds", str(TRAINING_SECONDS))
    alice.click("#group-form button[type=submit]")
    alice.wait_for_selector("#group-name")
    assert alice.inner_text("#group-name") == "Digits co-op"
    group_url = alice.url
    alice.fill("#id_data_size", "300")
    alice.click("#join-form button[type=submit]")
    alice.wait_for_selector("#my-status")

    # a second user joins with a deposit; the wallet page shows the stake leave the balance
    _sign_up(bob, base, "bob")
    before = int(bob.inner_text("#balance"))
    bob.goto(group_url)
    bob.fill("#id_data_size", "300")
    bob.click("#join-form button[type=submit]")
    bob.wait_for_selector("#my-status")
    assert "joined" in bob.inner_text(".messages")
    assert bob.inner_text("#my-status") == "active"
    bob.goto(f"{base}/wallet/")
    assert int(bob.inner_text("#wallet-balance")) == before - DEPOSIT
    assert f"-{DEPOSIT}" in _column(bob, "wallet-history tbody", 2)

    # a third, simulated honest party (a party agent run by the Celery worker); its keystore
    # lives under its account's fresh address, so a fixed name is safe across runs
    group = CooperativeGroup.objects.get(name="Digits co-op")
    carol = get_user_model().objects.create_user("carol", password=PASSWORD)
    create_party_account(user=carol)
    training.join_group(group=group, user=carol, data_size=400, simulated=True)

    # open the live dashboard and mark this document: any reload or navigation would lose it;
    # record every frame the server pushes over the dashboard's websocket(s)
    pushed: list[dict] = []

    def on_socket(ws) -> None:
        ws.on("framereceived", lambda data: pushed.append(json.loads(data)))

    alice.on("websocket", on_socket)
    alice.goto(f"{group_url}dashboard/")
    _js_until(alice, "document.getElementById('dashboard').dataset.conn === 'live'", "live")
    assert alice.inner_text("#round-no") == "0"
    assert alice.locator("#penalties tr").count() == 0
    navigations: list[str] = []
    alice.on("framenavigated", lambda frame: navigations.append(frame.url))
    marker = alice.evaluate("window.__marker = 'doc-' + Math.random()")
    origin = alice.evaluate("performance.timeOrigin")
    loads = alice.evaluate("performance.getEntriesByType('navigation').length")

    # the initiator starts the group from the group page in another tab
    starter = alice_ctx.new_page()
    starter.goto(group_url)
    starter.click("#start-group")
    starter.wait_for_selector(".messages")
    assert "starting" in starter.inner_text(".messages").lower(), starter.inner_text(".messages")

    clock = _Clock(app)
    clock.start()
    try:
        # the websocket pushes round 1, the absent parties' penalties, the collaborative
        # model's accuracy and loss, the payouts and the end of the group
        _js_until(alice, "document.getElementById('round-no').textContent === '1'", "round 1")
        _js_until(alice, "document.querySelectorAll('#penalties tr').length >= 2", "penalties")
        _js_until(
            alice,
            "document.getElementById('dash-status').textContent === 'finished'",
            "the group finishing",
        )
        _js_until(
            alice,
            """(() => { const c = window.Chart && window.Chart.getChart('acc-chart');
                 return !!c && c.data.datasets.some((d) => d.label === 'collaborative'
                   && d.data.some((v) => v !== null)); })()""",
            "an accuracy point",
        )
        _js_until(alice, "document.querySelectorAll('#payouts tr').length > 0", "a payout")
    finally:
        clock.halt.set()
        clock.join(timeout=5)

    # all of it arrived over the socket into the same document
    assert navigations == [], navigations
    assert alice.evaluate("window.__marker") == marker
    assert alice.evaluate("performance.timeOrigin") == origin
    assert alice.evaluate("performance.getEntriesByType('navigation').length") == loads
    assert int(alice.inner_text("#event-count")) > 0
    pushed_penalties = [p for f in pushed if f.get("type") == "snapshot" for p in f["penalties"]]
    assert {p["party"] for p in pushed_penalties} >= {"P1", "P2"}, "penalties not pushed"
    assert any(f.get("type") == "snapshot" and f["payouts"] for f in pushed), "no payout pushed"

    # the late (absent) parties P1 and P2 lose their deposit; the honest P3 does not
    penalised = _column(alice, "penalties", 1)
    assert {"P1", "P2"} <= set(penalised), penalised
    assert "P3" not in penalised, penalised
    assert all(a == str(DEPOSIT) for a in _column(alice, "penalties", 3))
    # one accuracy point and one loss point for the collaborative model (round 1)
    acc = _series(alice, "acc-chart", "collaborative")
    loss = _series(alice, "loss-chart", "collaborative")
    assert len(acc) == 1 and 0.0 <= acc[0] <= 1.0, acc
    assert len(loss) == 1 and loss[0] > 0, loss
    # the honest party is paid (its stake back, plus the pool of penalties)
    paid_to = _column(alice, "payouts", 1)
    assert "P3" in paid_to, paid_to
    assert all(int(a) > 0 for a in _column(alice, "payouts", 2))
    alice.wait_for_timeout(1500)  # let the flash highlights fade before the screenshot
    alice.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    starter.goto(group_url)
    assert starter.inner_text("#group-status") == "finished"
    starter.screenshot(path=str(ARTIFACTS / "group.png"), full_page=True)

    # an auditor (staff + ``auditor`` group) sees the admin without write controls
    audrey = get_user_model().objects.create_user("audrey", password=PASSWORD, is_staff=True)
    audrey.groups.add(Group.objects.get_or_create(name="auditor")[0])
    aud_ctx = browser.new_context()
    aud_ctx.set_default_timeout(60_000)
    aud = aud_ctx.new_page()
    aud.goto(f"{base}/admin/login/")
    aud.fill("#id_username", "audrey")
    aud.fill("#id_password", PASSWORD)
    aud.click("input[type=submit]")
    aud.wait_for_selector("#user-tools")
    for path in ("ledger_app/transaction/", "training_app/cooperativegroup/"):
        aud.goto(f"{base}/admin/{path}")
        assert aud.locator("#result_list tbody tr").count() > 0, path
        assert aud.locator("a.addlink").count() == 0, path
        assert aud.locator("select[name=action] option[value=delete_selected]").count() == 0
        aud.locator("#result_list tbody tr th a").first.click()
        aud.wait_for_load_state()
        for control in ("input[name=_save]", "input[name=_continue]",
                        "input[name=_addanother]", "a.deletelink"):  # fmt: skip
            assert aud.locator(control).count() == 0, (path, control)
    aud.screenshot(path=str(ARTIFACTS / "admin-auditor.png"), full_page=True)
