"""Participant-facing pages: local assets only, no inline scripts, onboarding and public views."""

from __future__ import annotations

import re

import pytest

FOREIGN = re.compile(r"""(?:src|href)=["']?(?:https?:)?//""")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/", "/"])
def test_the_page_references_no_other_host_and_no_inline_script(client, path):
    html = client.get(path).content.decode()
    assert not FOREIGN.search(html), FOREIGN.search(html).group(0)
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)


@pytest.mark.django_db
def test_the_redoc_bundle_points_its_logo_at_this_host(client):
    r = client.get("/docs-assets/redoc/bundles/redoc.standalone.js")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/javascript")
    body = r.content.decode()
    assert "cdn.redoc.ly" not in body
    assert "/static/frontend/redoc-logo-mini.svg" in body


@pytest.mark.django_db
def test_the_swagger_init_script_is_a_same_origin_request(client):
    r = client.get("/api/docs/?script=")
    assert r.status_code == 200 and "javascript" in r["Content-Type"]
    assert "validatorUrl" in r.content.decode()


@pytest.mark.django_db
def test_favicon_is_served(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 301
    assert client.get(r["Location"]).status_code == 200


def _running_group(make_user, make_group, *, public: bool):
    from training_app.models import CooperativeGroup

    owner = make_user()
    g = make_group(owner, public=public)
    CooperativeGroup.objects.filter(pk=g.pk).update(status="running")
    g.refresh_from_db()
    return owner, g


@pytest.mark.django_db
def test_a_visitor_opens_a_public_groups_pages_and_the_explorer_without_logging_in(
    client, make_user, make_group
):
    from ledger_app.models import Block, Transaction

    _, g = _running_group(make_user, make_group, public=True)
    for path in [f"/groups/{g.id}/", f"/groups/{g.id}/dashboard/", "/groups/", "/explorer/",
                 f"/groups/{g.id}/status.json"]:  # fmt: skip
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
    assert g.name in client.get("/groups/").content.decode()
    assert "Watch the demo live" in client.get("/").content.decode()
    block = Block.objects.order_by("height").first()
    assert client.get(f"/explorer/blocks/{block.height}/").status_code == 200
    tx = Transaction.objects.first()
    assert client.get(f"/explorer/tx/{tx.tx_hash}/").status_code == 200
    # but no write: joining, starting, aborting still need an account
    for path in (f"/groups/{g.id}/join/", f"/groups/{g.id}/abort/", f"/groups/{g.id}/start/"):
        r = client.post(path)
        assert r.status_code == 302 and "/accounts/login/" in r["Location"], path


@pytest.mark.django_db
def test_a_private_running_group_stays_closed_to_visitors_and_strangers(
    client, make_user, make_group
):
    _, g = _running_group(make_user, make_group, public=False)
    for path in (f"/groups/{g.id}/", f"/groups/{g.id}/dashboard/", f"/groups/{g.id}/status.json"):
        assert client.get(path).status_code == 404, path
    assert g.name not in client.get("/groups/").content.decode()
    client.force_login(make_user())
    assert client.get(f"/groups/{g.id}/dashboard/").status_code == 404


@pytest.mark.django_db
def test_the_group_page_shows_the_exact_agent_command_with_the_users_token(
    client, make_user, make_group
):
    from rest_framework.authtoken.models import Token

    owner = make_user("olga")
    g = make_group(owner)
    client.force_login(owner)
    page = client.get(f"/groups/{g.id}/").content.decode()
    assert 'id="create-token"' in page and "&lt;your API token&gt;" in page
    r = client.post("/accounts/token/create/", {"next": f"/groups/{g.id}/"})
    assert r.status_code == 302 and r["Location"] == f"/groups/{g.id}/"
    token = Token.objects.get(user=owner).key
    page = client.get(f"/groups/{g.id}/").content.decode()
    cmd = (f"python -m deepchain.party --api http://testserver --token {token} --group {g.id} "
           "--data ./deepchain-olga/data --keystore ./deepchain-olga/keystore")  # fmt: skip
    assert f'<pre id="agent-command">{cmd}</pre>' in page
    assert 'data-copy-target="agent-command"' in page
    # a foreign "next" does not redirect off the platform
    r = client.post("/accounts/token/create/", {"next": "https://elsewhere.example/"})
    assert r["Location"] == "/accounts/profile/"


@pytest.mark.django_db
def test_start_from_the_page_says_which_agents_are_offline_and_abort_returns_the_stakes(
    client, make_user, make_group
):
    from ledger_app.models import Account
    from training_app import services

    users = [make_user(name) for name in ("ona", "oleg", "olav")]
    owner = users[0]
    g = make_group(owner)
    for u in users:
        services.join_group(group=g, user=u, data_size=10)
    client.force_login(owner)
    page = client.get(f"/groups/{g.id}/", follow=True)
    assert page.content.decode().count("never seen") == 3
    r = client.post(f"/groups/{g.id}/start/", follow=True)
    text = r.content.decode()
    a, b, c = (Account.objects.get(user=u).address[:12] for u in users)
    assert f"not every party agent is online: P1 ({a}), P2 ({b}), P3 ({c})" in text
    st = client.get(f"/groups/{g.id}/status.json").json()
    assert st["all_online"] is False and [m["agent"]["online"] for m in st["members"]] == [
        False, False, False]  # fmt: skip
    r = client.post(f"/groups/{g.id}/abort/", {"reason": "nobody online"}, follow=True)
    text = r.content.decode()
    assert (
        'id="group-status">aborted<' in text and "aborted by the initiator: nobody online" in text
    )
    assert {Account.objects.get(user=u).balance for u in users} == {10_000}
    wallet = client.get("/wallet/").content.decode()
    assert "Stake returned" in wallet and "Stake locked in the group" in wallet
    assert g.name in wallet


@pytest.mark.django_db
def test_the_wallet_labels_each_line_and_shows_a_penalty_taken_from_the_stake(
    client, make_user, make_group
):
    from deepchain.incentives.money import escrow_account as escrow
    from deepchain.incentives.money import pool_account as pool
    from deepchain.ledger.transactions import TxKind
    from ledger_app import services as ledger
    from training_app import services

    owner = make_user("wanda")
    g = make_group(owner)
    services.join_group(group=g, user=owner, data_size=10)
    acct = owner.account
    ledger.move_money(
        source=escrow(g.address), destination=pool(g.address), amount=100, kind=TxKind.PENALTY,
        reason="penalty:absent", signer=ledger.authority_identity(), group=g.address, round=1,
        phase="decryption_share", extra={"party": acct.address},
    )  # fmt: skip
    client.force_login(owner)
    page = client.get("/wallet/").content.decode()
    assert "Penalty: absent" in page and "taken from what you had already locked" in page
    assert f"{g.name}</a> · round 1 · T5 decryption share" in page
    assert 'data-reason="stake"' in page and "Stake locked in the group" in page


@pytest.mark.django_db
def test_the_outcome_and_the_demo_terminal_tell_penalties_extra_pay_and_the_urls(
    make_user, make_group
):
    from deepchain.incentives.money import escrow_account as escrow
    from deepchain.incentives.money import pool_account as pool
    from deepchain.ledger.transactions import TxKind
    from frontend.narrator import Narrator
    from frontend.selectors import dashboard_snapshot
    from ledger_app import services as ledger
    from training_app import services
    from training_app.models import Membership

    honest, flaky = make_user("hana"), make_user("fred")
    g = make_group(honest, deposit=100)
    for u in (honest, flaky):
        services.join_group(group=g, user=u, data_size=10)
    auth = ledger.authority_identity()
    ledger.move_money(source=escrow(g.address), destination=pool(g.address), amount=100,
                      kind=TxKind.PENALTY, reason="penalty:invalid_proof", signer=auth,
                      group=g.address, round=1, phase="gradient_submission",
                      extra={"party": flaky.account.address})  # fmt: skip
    Membership.objects.filter(group=g, user=flaky).update(stake_remaining=0)  # as the contract
    ledger.move_money(source=pool(g.address), destination=honest.account.address, amount=100,
                      kind=TxKind.PAYOUT, reason="extra_pay", signer=auth, group=g.address,
                      round=1, phase="gradient_submission")  # fmt: skip
    lines: list[str] = []
    narrator = Narrator(g.id, "http://127.0.0.1:8000", lines.append)
    assert narrator.poll() is False
    assert ("[round 1] penalty 100 from P2 (fred): Penalty: invalid proof in "
            "T1 gradient submission") in lines  # fmt: skip
    assert (
        "[round 1] extra pay (share of the penalties) 100 to P1 (hana) in T1 gradient "
        "submission" in lines
    )
    services.abort_group(group=g, by=honest, reason="demo over")
    assert narrator.poll() is True
    text = "\n".join(lines)
    assert "group “test group” aborted: aborted by the initiator: demo over" in text
    assert "P1 hana     earned   100  forfeited     0  net +100" in text
    assert "P2 fred     earned     0  forfeited   100  net -100" in text
    for url in (f"http://127.0.0.1:8000/groups/{g.id}/dashboard/",
                "http://127.0.0.1:8000/explorer/", "http://127.0.0.1:8000/admin/"):  # fmt: skip
        assert url in text
    n = len(lines)
    assert narrator.poll() is True and len(lines) == n  # each fact is told once

    snap = dashboard_snapshot(g)
    o = snap["outcome"]
    assert snap["ended"] and o["ended"] and o["status"] == "aborted"
    assert [(p["label"], p["earned"], p["forfeited"]) for p in o["parties"]] == [
        ("P1", 100, 0), ("P2", 0, 100)]  # fmt: skip
    assert snap["parties"][flaky.account.address]["label"] == "P2"
    assert snap["penalties"][0]["reason_label"] == "Penalty: invalid proof"
    assert snap["penalties"][0]["phase_label"] == "T1 gradient submission"


@pytest.mark.django_db
def test_blank_windows_are_derived_from_the_measured_cost_and_a_short_one_is_flagged(
    client, make_user, settings
):
    from frontend.costs import expected_s, measured
    from training_app.models import CooperativeGroup

    client.force_login(make_user())
    base = {"name": "derived", "task": "digits", "model_name": "tiny", "key_bits": "512",
            "n_parties": "3", "threshold": "2", "rounds": "2", "deposit": "40",
            "partition": "iid", "local_iterations": "5", "strategy": "fedavg"}  # fmt: skip
    r = client.post("/groups/new/", base, follow=True)
    assert r.status_code == 200 and "Shorter than what it costs" not in r.content.decode()
    g = CooperativeGroup.objects.get(name="derived")
    exp = expected_s(512, "tiny", 3, 5, measured(512, "tiny"))
    for phase, s in exp.items():
        assert g.deadlines[phase] / 1000 >= s, (phase, g.deadlines[phase], s)
    assert g.key_bits == 512

    # the paper's CNN at 1024 bits: thousands of ciphertexts, so 1 s for T5 is far too short
    settings.DEEPCHAIN_MAX_BLOB = 128 * 1024 * 1024  # its proven update is about 80 MB
    share_cost = expected_s(1024, "paper_cnn", 3, 5, measured(1024, "paper_cnn"))
    assert share_cost["decryption_share"] > 1
    r = client.post("/groups/new/", {**base, "name": "rushed", "share_seconds": "1",
                                      "key_bits": "1024", "model_name": "paper_cnn"},
                    follow=True)  # fmt: skip
    text = r.content.decode()
    assert (
        "Shorter than what it costs on this machine" in text and "T5 decryption share (1 s" in text
    )
    assert CooperativeGroup.objects.get(name="rushed").deadlines["decryption_share"] == 1000

    r = client.get(
        "/groups/new/costs.json",
        {"model_name": "tiny", "key_bits": "512", "n_parties": "3", "local_iterations": "5"},
    )
    body = r.json()
    assert r.status_code == 200 and set(body["default_s"]) == set(exp)
    assert all(body["default_s"][p] > body["expected_s"][p] for p in exp)
    r = client.get("/groups/new/costs.json", {"model_name": "huge", "key_bits": "512"})
    assert r.status_code == 400 and "message" in r.json()
    r = client.get("/groups/new/costs.json", {"model_name": "tiny", "key_bits": "x"})
    assert r.status_code == 400
