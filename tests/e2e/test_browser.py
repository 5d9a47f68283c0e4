"""Browser acceptance (Playwright + Debian's chromium, never downloaded) against the real Daphne
server, a real Celery worker and REAL party agent processes (``python -m deepchain.party``),
512-bit keys and the ``tiny`` model:

- a visitor, not signed in, watches the public demo group live: its dashboard shows the
  misbehaving party's penalty, the honest parties' extra pay and the outcome summary, and the
  explorer, a block and a transaction open without an account;
- new users take part from the browser: the first creates a group (the form derives its
  windows from the measured cost), each of the three copies the agent command from the group
  page (copy button, clipboard), three real CLI agents started with it join and come online
  on the page (a real group has no party simulated by the platform);
  Start is refused while an agent is offline and accepted once it is back; the round runs and
  the outcome card appears on the dashboard without any reload; the wallet labels every line;
  an auditor sees the admin without write controls;
- a group the initiator aborts shows "aborted", and the wallet shows the stake coming back.

Screenshots at 1366 px go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
VIEWPORT = {"width": 1366, "height": 900}
PASSWORD = "pw-Deep-Chain-1"
DEPOSIT = 100
WAIT_MS = 240_000
ONLINE_3 = "document.querySelectorAll('#member-table .agent-state.online').length === 3"
OFFLINE_1 = "document.querySelectorAll('#member-table .agent-state.offline').length === 1"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium"),
]


@pytest.fixture
def browser(live_server_url, celery_worker, monkeypatch):
    """Chromium. Playwright's sync API runs an event loop in this thread, so the test's own ORM
    calls need DJANGO_ALLOW_ASYNC_UNSAFE (set after the servers started)."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def clock(celery_worker):
    """The beat's job in production: tick the protocol clock and consensus once a second."""
    from deepchain_web.celery import app

    c = _Clock(app)
    c.start()
    try:
        yield c
    finally:
        c.halt.set()
        c.join(timeout=5)


class _Clock(threading.Thread):
    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app, self.halt = app, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(1.0):
            with contextlib.suppress(Exception):  # a broker hiccup: the next beat retries
                self.app.send_task("training_app.tasks.tick_clock")
                self.app.send_task("ledger_app.tasks.run_consensus")


def _context(browser, base: str):
    """A browser context under the pages' own CSP (never bypassed): every page it opens records
    what the policy refused (see ``csp_problems``)."""
    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.set_default_timeout(60_000)  # page loads on a loaded 2-core CI
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    ctx.csp_problems = []
    ctx.add_init_script(RECORD_CSP_VIOLATIONS)
    ctx.on("page", lambda page: _watch_csp(page, ctx.csp_problems))
    return ctx


# The browser reports each refusal as a securitypolicyviolation event and a console error.
RECORD_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', e => console.error(
  'CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') +
  ' at ' + e.sourceFile + ':' + e.lineNumber));
"""


def _watch_csp(page, problems: list[str]) -> None:
    def on_console(msg) -> None:
        text = msg.text
        if msg.type == "error" and ("Content Security Policy" in text or "CSP violation" in text):
            problems.append(f"{page.url}: {text}")

    page.on("console", on_console)


def _assert_no_csp_violation(*contexts) -> None:
    problems = [p for ctx in contexts for p in ctx.csp_problems]
    assert not problems, "\n".join(problems[:20])


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _until(page, expression: str, what: str, timeout: int = WAIT_MS) -> None:
    """Poll a JS predicate in the page (no reload) every 0.5 s; on timeout, fail naming what
    was awaited and leave a screenshot of where the page stood. Polled from here through the
    devtools protocol: Playwright's in-page ``wait_for_function`` evaluates the predicate with
    eval, which the pages' CSP (script-src 'self') rightly refuses."""
    deadline = time.monotonic() + timeout / 1000
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if page.evaluate(f"() => Boolean({expression})"):
                return
        except Exception as exc:  # mid-navigation: the next poll sees the new document
            last = exc
        page.wait_for_timeout(500)
    _shot(page, "timeout")
    raise AssertionError(f"the page never showed {what} ({last or 'still false'})")


def _sign_up(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(f"{base}/accounts/profile/")


def _column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tr", f"rows => rows.map(r => r.children[{index}].textContent.trim())"
    )


def _mark(page) -> tuple[str, float]:
    """Mark this document: a reload or a navigation would lose the marker."""
    return page.evaluate("window.__marker = 'doc-' + Math.random()"), page.evaluate(
        "performance.timeOrigin"
    )


def _same_document(page, mark: tuple[str, float]) -> None:
    assert page.evaluate("window.__marker") == mark[0]
    assert page.evaluate("performance.timeOrigin") == mark[1]


def _write_party_data(directory: Path, seed: int) -> None:
    """A party's own data: a small MNIST subset as IDX files (never sent anywhere)."""
    import numpy as np
    from django.conf import settings

    from deepchain.learning.data import read_idx, write_idx

    src = Path(settings.DEEPCHAIN_MNIST_DIR)
    images = read_idx(next(src.glob("t10k-images-idx3-ubyte*")))
    labels = read_idx(next(src.glob("t10k-labels-idx1-ubyte*")))
    idx = np.random.default_rng(seed).permutation(len(labels))[:400]
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / "train-images-idx3-ubyte", images[idx].astype(np.uint8))
    write_idx(directory / "train-labels-idx1-ubyte", labels[idx].astype(np.uint8))


def _start_agent(command: str, cwd: Path, name: str) -> subprocess.Popen:
    """Run the command exactly as copied from the page (``python`` is this interpreter)."""
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "deepchain.party"], argv
    argv[0] = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = open(ARTIFACTS / f"agent-{name}.log", "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen([*argv, "--poll", "0.5"], cwd=cwd, env=env, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _copied_command(page) -> str:
    """Click the page's Copy button and read what it put on the clipboard."""
    page.click("#copy-command")
    page.wait_for_selector("#copy-command.copied")
    return page.evaluate("navigator.clipboard.readText()")


# --- a visitor watches the public demo ------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_visitor_watches_the_public_demo_with_its_penalty_extra_pay_and_outcome(
    live_server_url, celery_worker, browser, clock
):
    from django.contrib.auth import get_user_model

    from frontend.management.commands.seed_demo import DEMO_BEHAVIOURS
    from ledger_app.services import create_party_account
    from training_app import services
    from training_app.models import CooperativeGroup

    base = live_server_url
    users = []
    for name in ("demo-alice", "demo-bob", "demo-carol", "demo-dave"):
        u = get_user_model().objects.create_user(name, password=PASSWORD)
        create_party_account(user=u)
        users.append(u)
    g = services.create_group(
        initiator=users[0], name="Public demo", n_parties=4, threshold=2, rounds=1,
        deposit=DEPOSIT, model_name="tiny", local_iterations=5, data_limit=2000,
        deadlines={"T1": 120_000, "T2": 60_000, "T5": 120_000}, api_url=base, public=True,
        simulated=True, key_origin="dealer",
    )  # fmt: skip
    for u, behaviour in zip(users, DEMO_BEHAVIOURS, strict=True):  # dave: invalid proof in round 1
        services.join_group(group=g, user=u, data_size=500, simulated=True, behaviour=behaviour)
    services.start_group(group=g, by=users[0], api_url=base)

    ctx = _context(browser, base)
    page = ctx.new_page()
    page.goto(f"{base}/")
    page.click("#demo-link")  # the home page leads a newcomer to the demo
    page.wait_for_selector("#dashboard")
    assert page.url == f"{base}/groups/{g.id}/dashboard/"
    assert page.inner_text("#you") == "watching as a visitor"
    _until(
        page,
        "document.getElementById('dashboard').dataset.conn === 'live'"
        " || document.getElementById('dashboard').dataset.conn === 'ended'",
        "live",
    )
    mark = _mark(page)
    _until(page, "!document.getElementById('outcome').hidden && "
                 "document.getElementById('outcome').dataset.status === 'finished'",
           "the outcome of the finished group")  # fmt: skip
    _until(page, "document.querySelectorAll('#payouts tr').length > 0", "the payouts")
    _same_document(page, mark)

    penalties = _column(page, "penalties", 4)
    assert any("invalid proof" in p.lower() for p in penalties), penalties
    assert "P4" in _column(page, "penalties", 1)
    reasons = _column(page, "payouts", 3)
    assert any("extra pay" in r.lower() for r in reasons), reasons
    rows = page.eval_on_selector_all(
        "#outcome-parties tr", "rs => rs.map(r => [...r.children].map(c => c.textContent))"
    )
    by_party = {r[0].split(" ")[0]: r for r in rows}
    assert by_party["P4"][2].startswith("-") and by_party["P1"][1].startswith("+"), rows
    assert "%" in page.inner_text("#final-accuracy")
    _until(page, "document.getElementById('dashboard').dataset.conn === 'ended'",
           "the live dot going off")  # fmt: skip
    assert "not live" in page.inner_text("#conn-text")
    page.wait_for_timeout(1500)  # let the flash highlights fade
    _shot(page, "visitor-demo-dashboard")

    # the explorer, a block of this group and one of its transactions, still signed out
    page.click("#blocks li a")
    page.wait_for_selector("h1")
    assert "/explorer/blocks/" in page.url
    _shot(page, "visitor-block")
    page.goto(f"{base}/explorer/")
    assert page.locator("text=Log in").count() > 0  # still a visitor
    _shot(page, "visitor-explorer")
    page.locator("a[href^='/explorer/tx/']").first.click()
    page.wait_for_selector("h1")
    assert "/explorer/tx/" in page.url
    assert CooperativeGroup.objects.get(pk=g.id).status == "finished"
    _assert_no_csp_violation(ctx)


# --- two new users take part with their agents -----------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_new_users_take_part_with_agents_started_from_the_page(
    live_server_url, celery_worker, browser, clock, tmp_path
):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from ledger_app.models import Account
    from training_app.models import CooperativeGroup

    base = live_server_url
    alice_ctx, bob_ctx, carol_ctx = (_context(browser, base) for _ in range(3))
    alice, bob, carol = alice_ctx.new_page(), bob_ctx.new_page(), carol_ctx.new_page()

    # alice signs up and creates a group: the form explains each field and the risk
    _sign_up(alice, base, "alice")
    alice.goto(f"{base}/groups/new/")
    alice.fill("#id_name", "Digits co-op")
    alice.select_option("#id_model_name", "tiny")
    alice.select_option("#id_key_bits", "512")
    alice.fill("#id_n_parties", "3")
    alice.fill("#id_threshold", "2")
    alice.fill("#id_rounds", "1")
    alice.fill("#id_deposit", str(DEPOSIT))
    alice.fill("#id_local_iterations", "5")
    assert alice.input_value("#id_key_origin") == "dealerless"  # the parties make the key
    _until(alice, "document.getElementById('group-form').dataset.costs === 'ready'",
           "the measured cost", 120_000)  # fmt: skip
    assert alice.inner_text("#risk-max") == f"{DEPOSIT} × (1 + 2 × 1) = {3 * DEPOSIT}"
    assert int(alice.input_value("#id_share_seconds")) > 0  # derived from the measurement
    alice.fill("#id_share_seconds", "90")
    alice.fill("#id_training_seconds", "90")
    alice.fill("#id_phase_seconds", "30")
    _shot(alice, "create-form")
    alice.click("#group-form button[type=submit]")
    alice.wait_for_selector("#group-name")
    group_url = alice.url
    group = CooperativeGroup.objects.get(name="Digits co-op")
    assert group.deadlines["decryption_share"] == 90_000
    assert group.key_origin == "dealerless"
    assert alice.get_attribute("[data-key-origin]", "data-key-origin") == "dealerless"

    # the page shows what to run; with a token, the exact command, copied by the button
    alice.click("#create-token")
    alice.wait_for_selector("#copy-command")
    alice_cmd = _copied_command(alice)
    assert alice_cmd == alice.inner_text("#agent-command").strip()
    assert f"--api {base} " in alice_cmd and f"--group {group.id} " in alice_cmd
    assert "--data ./deepchain-alice/data --keystore ./deepchain-alice/keystore" in alice_cmd
    _shot(alice, "group-onboarding")

    commands = {"alice": alice_cmd}
    for name, page in (("bob", bob), ("carol", carol)):  # a real group: every party its agent
        _sign_up(page, base, name)
        page.goto(group_url)
        page.click("#create-token")
        page.wait_for_selector("#copy-command")
        commands[name] = _copied_command(page)
        assert "--token " in commands[name] and commands[name] != alice_cmd
    bob_cmd = commands["bob"]

    # three real agents, each started with the command copied from its page
    for seed, name in enumerate(commands, start=1):
        _write_party_data(tmp_path / f"deepchain-{name}" / "data", seed)
    agents = {name: _start_agent(cmd, tmp_path, name) for name, cmd in commands.items()}
    try:
        alice.goto(group_url)
        mark = _mark(alice)
        _until(alice, ONLINE_3, "every agent online (the page refreshes itself)")
        _same_document(alice, mark)
        _shot(alice, "group-agents-online")

        # bob's agent stops: the page shows it offline and Start is refused, naming it
        _stop(agents["bob"])
        _until(alice, OFFLINE_1, "bob's agent offline", 90_000)
        alice.click("#start-group")
        alice.wait_for_selector(".messages")
        refused = alice.inner_text(".messages")
        bob_address = Account.objects.get(user__username="bob").address[:12]
        assert "not every party agent is online" in refused and bob_address in refused, refused
        assert alice.inner_text("#group-status") == "recruiting"
        _shot(alice, "start-refused")

        # bob starts it again with the same command: online again, Start accepted
        agents["bob"] = _start_agent(bob_cmd, tmp_path, "bob")
        _until(alice, ONLINE_3, "bob's agent online again")
        alice.click("#start-group")
        alice.wait_for_selector(".messages")
        assert "starting" in alice.inner_text(".messages").lower(), alice.inner_text(".messages")

        # the dashboard, one document throughout: the outcome card appears by itself
        alice.click("#open-dashboard")
        alice.wait_for_selector("#dashboard")
        assert alice.inner_text("#you") in ("you are P1", "you are P2", "you are P3")
        mark = _mark(alice)
        _until(alice, "document.getElementById('round-no').textContent === '1'", "round 1")
        _until(alice, "!document.getElementById('outcome').hidden && "
                      "document.getElementById('outcome').dataset.status === 'finished'",
               "the outcome card")  # fmt: skip
        _same_document(alice, mark)
        assert "%" in alice.inner_text("#final-accuracy")
        assert alice.locator("#outcome-parties tr").count() == 3
        assert alice.inner_text("#rounds-ok") == "1 of 1"
        _until(alice, "document.getElementById('dashboard').dataset.conn === 'ended'",
               "the live dot going off")  # fmt: skip
        alice.wait_for_timeout(1500)
        _shot(alice, "dashboard-outcome")
        for name, proc in agents.items():  # the agents stop by themselves once it ended
            assert proc.wait(timeout=120) == 0, (ARTIFACTS / f"agent-{name}.log").read_text()[
                -2000:
            ]
    finally:
        for proc in agents.values():
            _stop(proc)

    # the three CLI agents made PK_model in the dealerless ceremony, recorded in Tran_co
    from ledger_app.models import Transaction

    tran_co = Transaction.objects.get(group_ref=group.address, kind="group_create").payload
    assert tran_co["key_origin"] == "dealerless" and tran_co["ceremony"]["transcript_hash"]

    # the wallet tells what happened to the money, line by line, with the group and phase
    alice.goto(f"{base}/wallet/")
    reasons = _column(alice, "wallet-history tbody", 1)
    assert any("Stake locked" in r for r in reasons) and any("Stake returned" in r for r in reasons)
    assert any("Deposit paid back" in r for r in reasons), reasons
    places = _column(alice, "wallet-history tbody", 4)
    assert any("Digits co-op · round 1 · T1 gradient submission" in p for p in places), places
    _shot(alice, "wallet")

    # an auditor (staff + ``auditor`` group) sees the admin without write controls
    audrey = get_user_model().objects.create_user("audrey", password=PASSWORD, is_staff=True)
    audrey.groups.add(Group.objects.get_or_create(name="auditor")[0])
    aud_ctx = _context(browser, base)
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
    _assert_no_csp_violation(alice_ctx, bob_ctx, carol_ctx, aud_ctx)


# --- an aborted group ----------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_an_aborted_group_shows_aborted_and_the_stake_coming_back(live_server_url, browser):
    base = live_server_url
    ctx = _context(browser, base)
    page = ctx.new_page()
    _sign_up(page, base, "dora")
    before = int(page.inner_text("#balance"))
    page.goto(f"{base}/groups/new/")
    page.fill("#id_name", "Abandoned co-op")
    page.select_option("#id_model_name", "tiny")
    page.select_option("#id_key_bits", "512")
    page.fill("#id_deposit", str(DEPOSIT))
    for field in ("training_seconds", "share_seconds", "phase_seconds"):
        page.fill(f"#id_{field}", "60")
    page.check("#id_simulated")  # a browser wallet (held by the platform) joins only a demo
    page.click("#group-form button[type=submit]")
    page.wait_for_selector("#group-name")
    assert page.inner_text("#group-simulated") == "simulated"
    page.click("details.alt-join summary")
    page.click("#join-form button[type=submit]")
    page.wait_for_selector("#my-status")
    page.goto(f"{base}/wallet/")
    assert int(page.inner_text("#wallet-balance")) == before - DEPOSIT
    page.go_back()
    page.on("dialog", lambda d: d.accept())  # "Abort this group? ..."
    page.fill("#abort-form input[name=reason]", "changed my mind")
    page.click("#abort-group")
    page.wait_for_selector(".messages")
    assert page.inner_text("#group-status") == "aborted"
    assert "aborted by the initiator: changed my mind" in page.inner_text("#group-reason")
    assert "returned" in page.inner_text(".messages")
    _shot(page, "group-aborted")
    page.goto(f"{base}/wallet/")
    assert int(page.inner_text("#wallet-balance")) == before
    rows = page.eval_on_selector_all(
        "#wallet-history tbody tr", "rs => rs.map(r => [...r.children].map(c => c.textContent))"
    )
    returned = [r for r in rows if "Stake returned" in r[1]]
    assert returned and returned[0][2].strip() == f"+{DEPOSIT}", rows
    assert "Abandoned co-op" in returned[0][4]
    _shot(page, "wallet-refund")
    _assert_no_csp_violation(ctx)


# --- every page under the real CSP ---------------------------------------------------------
SKIP_PREFIXES = ("/static/", "/docs-assets/", "/api/schema/", "/accounts/logout/",
                 "/admin/logout/", "/favicon.ico")  # fmt: skip
MAX_PAGES = 80  # per visitor; one page per route is far fewer


def _route(path: str) -> str:
    """One key per route: ids and hashes replaced (``/explorer/tx/ab12../`` -> ``.../H/``)."""
    import re

    path = re.sub(r"/[0-9a-f]{16,}(?=/)", "/H", path)
    return re.sub(r"/\d+(?=/)", "/N", path)


def _crawl(page, base: str, starts: list[str]) -> list[str]:
    """Open each start page and every same-origin page linked from what was opened (GET only,
    no query strings), one page per route; return the paths opened. A 5xx fails the test."""
    from urllib.parse import urlsplit

    todo, seen, opened = list(starts), set(), []
    while todo and len(opened) < MAX_PAGES:
        path = todo.pop(0)
        if _route(path) in seen or path.startswith(SKIP_PREFIXES) or "/delete/" in path:
            continue
        seen.add(_route(path))
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status < 500, (path, response and response.status)
        page.wait_for_timeout(300)  # the page's own scripts run (and would be refused) now
        opened.append(path)
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            url = urlsplit(href)
            if url.netloc == urlsplit(base).netloc and not url.query and url.path not in todo:
                todo.append(url.path)
    return opened


@pytest.mark.django_db(transaction=True)
def test_every_page_loads_under_its_csp_without_a_violation(live_server_url, browser):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from ledger_app.services import create_party_account
    from training_app import services

    base = live_server_url
    pat = get_user_model().objects.create_user("pat", password=PASSWORD)
    audrey = get_user_model().objects.create_user("audrey", password=PASSWORD, is_staff=True)
    audrey.groups.add(Group.objects.get_or_create(name="auditor")[0])
    for u in (pat, audrey):
        create_party_account(user=u)
    for name, public in (("Open co-op", True), ("Private co-op", False)):
        g = services.create_group(initiator=pat, name=name, n_parties=3, threshold=2, rounds=1,
                                  deposit=DEPOSIT, model_name="tiny", public=public,
                                  simulated=True)  # fmt: skip
        services.join_group(group=g, user=pat, data_size=100)  # a DEPOSIT transaction
    starts = ["/", "/explorer/", "/explorer/blocks/0/", "/groups/", "/groups/new/", "/wallet/",
              "/assets/", "/accounts/profile/", "/accounts/login/", "/accounts/signup/",
              f"/groups/{g.id}/", f"/groups/{g.id}/dashboard/", "/api/docs/", "/api/redoc/",
              "/no/such/page/"]  # fmt: skip

    # the detector works: an inline script the page did not ship is refused and recorded
    probe = _context(browser, base)
    page = probe.new_page()
    page.goto(f"{base}/")
    page.evaluate("document.head.appendChild(Object.assign(document.createElement('script'),"
                  " {textContent: 'window.injected = 1'}))")  # fmt: skip
    page.wait_for_timeout(300)
    assert page.evaluate("window.injected") is None
    assert any("script-src" in p for p in probe.csp_problems), probe.csp_problems
    probe.close()

    contexts, opened = [], {}
    for who in ("visitor", "pat", "audrey"):
        ctx = _context(browser, base)
        page = ctx.new_page()
        if who != "visitor":
            page.goto(f"{base}/accounts/login/")
            page.fill("#id_username", who)
            page.fill("#id_password", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(f"{base}/")
        opened[who] = _crawl(page, base, starts + (["/admin/"] if who == "audrey" else []))
        contexts.append(ctx)
    _assert_no_csp_violation(*contexts)
    routes = {_route(p) for paths in opened.values() for p in paths}
    for must in ("/", "/explorer/", "/explorer/blocks/N/", "/explorer/tx/H/", "/groups/N/",
                 "/groups/N/dashboard/", "/wallet/", "/api/docs/", "/api/redoc/", "/admin/",
                 "/admin/ledger_app/transaction/"):  # fmt: skip
        assert must in routes, (must, sorted(routes))
    assert any(r.startswith("/admin/ledger_app/transaction/") and r.count("/") > 4
               for r in routes), sorted(routes)  # fmt: skip

    # layout: the audit lists show every column at 1366 px, a block's raw JSON stays inside
    # the page, and on a phone-sized screen nothing widens the page or wraps the search
    from ledger_app.models import Block, Transaction

    page = contexts[-1].pages[0]  # audrey, staff
    for path in ("/admin/ledger_app/transaction/", "/admin/ledger_app/account/"):
        page.goto(f"{base}{path}")
        clipped = page.evaluate(CLIPPED_COLUMNS)
        assert not clipped, (path, clipped)
    page.goto(f"{base}/admin/ledger_app/block/{Block.objects.get(height=0).id}/change/")
    assert page.evaluate(OVERFLOWING_READONLY) == [], "a block field overflows the page"
    _shot(page, "admin-block")
    tx = Transaction.objects.filter(kind="deposit").first()
    page.set_viewport_size({"width": 400, "height": 800})
    for path in ("/explorer/", "/explorer/blocks/0/", f"/explorer/tx/{tx.tx_hash}/"):
        page.goto(f"{base}{path}")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), path
        assert page.evaluate(SEARCH_ON_ONE_LINE), path
        _shot(page, "narrow-" + path.strip("/").split("/")[-1][:12])
    decoded = page.inner_text("#tx-payload dl")  # decoded: the stake's reason in words
    assert "Stake locked in the group's escrow" in decoded, decoded


CLIPPED_COLUMNS = """() => {
  const box = document.querySelector('#changelist .results').getBoundingClientRect();
  return [...document.querySelectorAll('#result_list th')]
    .filter(th => th.getBoundingClientRect().right > box.right + 1)
    .map(th => th.textContent.trim());
}"""
OVERFLOWING_READONLY = """() => [...document.querySelectorAll('.readonly')]
  .filter(e => e.scrollWidth > e.clientWidth + 1
               || e.getBoundingClientRect().right > document.documentElement.clientWidth)
  .map(e => e.textContent.slice(0, 40))"""
SEARCH_ON_ONE_LINE = """() => {
  const f = document.querySelector('#explorer-search');
  const [i, b] = [f.querySelector('input'), f.querySelector('button')];
  return Math.abs(i.getBoundingClientRect().top - b.getBoundingClientRect().top) < 12;
}"""
