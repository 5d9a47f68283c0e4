"""A party loses nothing by surprise: Start waits for every party agent's signed heartbeat,
the initiator can abort a group (open deposits and stakes come back, exactly), and a failed
round ends the group as ``failed`` with its reason. Real signatures, real ledger, real Celery
worker (key ceremony, verification, Blockwise-BA) and the real auditor on the resulting chain.
"""

from __future__ import annotations

import datetime
import json
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from deepchain.audit.protocol import audit_protocol
from deepchain.blobs import BlobStore, blob_hash
from deepchain.crypto.identity import Identity
from deepchain.ledger.transactions import TxKind, make_tx
from deepchain.wire import heartbeat_message
from ledger_app import selectors as ledger_selectors
from ledger_app import services as ledger
from ledger_app import tasks as ledger_tasks
from ledger_app.models import Account, LedgerEntry, Transaction
from training_app import presence, services
from training_app.models import CooperativeGroup, Membership, Round

GRANT = 10_000
DEPOSIT = 70


def _users(prefix: str, n: int = 3):
    out = []
    for i in range(n):
        u = get_user_model().objects.create_user(username=f"{prefix}{i}", password="x")
        ledger.create_party_account(user=u, grant=GRANT)
        out.append(u)
    return out


def _group(users, **kw):
    """A simulated group (its parties' wallets are held by the platform, so it must say so)."""
    kw.setdefault("simulated", True)
    kw.setdefault("key_origin", "dealer")
    g = services.create_group(
        initiator=users[0], name="lifecycle", n_parties=len(users), threshold=2, rounds=2,
        deposit=DEPOSIT, model_name="tiny", key_bits=512, data_limit=500,
        deadlines={"T1": 600_000, "T2": 600_000, "T5": 600_000}, **kw,
    )  # fmt: skip
    for u in users:
        services.join_group(group=g, user=u, data_size=100)
    return g


def _client(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def _beat(user, g, *, at_ms: int | None = None, signer: Identity | None = None, address=None):
    """A heartbeat signed like the agent's (by the member's key unless ``signer`` is given)."""
    acct = Account.objects.get(user=user)
    ident = signer or ledger.party_identity(acct)
    at = int(time.time() * 1000) if at_ms is None else at_ms
    msg = heartbeat_message(address or g.address, acct.address, at)
    return _client(user).post(
        f"/api/groups/{g.id}/heartbeat/",
        {"at_ms": at, "signature": ident.sign(msg).hex()},
        format="json",
    )


def _online(g) -> list[bool]:
    ms = Membership.objects.filter(group=g).order_by("party_index")
    return [presence.is_online(m) for m in ms]


@pytest.mark.django_db
def test_start_is_refused_until_every_agent_signed_a_fresh_heartbeat():
    users = _users("hb")
    g = _group(users)
    r = _client(users[0]).post(f"/api/groups/{g.id}/start/")
    assert r.status_code == 409 and r.json()["code"] == "agents_offline", r.content
    assert "P1" in r.json()["message"] and "P3" in r.json()["message"]

    # a heartbeat signed by another key, or bound to another group, does not count
    assert _beat(users[1], g, signer=Identity.generate()).json()["code"] == "bad_signature"
    assert _beat(users[1], g, address="co-elsewhere").json()["code"] == "bad_signature"
    # one from a clock two minutes off does not either
    old = int(time.time() * 1000) - 120_000
    assert _beat(users[1], g, at_ms=old).json()["code"] == "stale"
    # a stranger has no agent to report in this group
    stranger = _users("hbx", 1)[0]
    assert _beat(stranger, g).status_code in (403, 404)
    assert _online(g) == [False, False, False]

    at = int(time.time() * 1000)
    assert _beat(users[1], g, at_ms=at).status_code == 200
    assert _online(g) == [False, True, False]
    # a captured heartbeat replayed later is refused
    r = _beat(users[1], g, at_ms=at)
    assert r.status_code == 409 and r.json()["code"] == "replay"
    assert _beat(users[0], g).status_code == 200
    r = _client(users[0]).post(f"/api/groups/{g.id}/start/")
    assert r.status_code == 409 and "P3" in r.json()["message"] and "P2" not in r.json()["message"]

    # an agent that stopped beating goes offline again
    assert _beat(users[2], g).status_code == 200
    Membership.objects.filter(group=g, user=users[2]).update(
        agent_seen_at=timezone.now() - datetime.timedelta(seconds=presence.online_window_s() + 1)
    )
    assert _online(g) == [True, True, False]
    assert _client(users[0]).post(f"/api/groups/{g.id}/start/").status_code == 409
    assert _beat(users[2], g).status_code == 200
    r = _client(users[0]).post(f"/api/groups/{g.id}/start/")
    assert r.status_code == 200 and r.json()["status"] == "keygen", r.content


@pytest.mark.django_db
def test_only_the_initiator_aborts_and_a_recruiting_abort_returns_every_stake():
    users = _users("ab")
    g = _group(users)
    r = _client(users[1]).post(f"/api/groups/{g.id}/abort/", {}, format="json")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = _client(users[0]).post(f"/api/groups/{g.id}/abort/", {"reason": "wrong data"},
                               format="json")  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "aborted", r.content
    g.refresh_from_db()
    assert g.status == "aborted" and g.status_reason == "aborted by the initiator: wrong data"
    assert [Account.objects.get(user=u).balance for u in users] == [GRANT] * 3
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0
    r = _client(users[0]).post(f"/api/groups/{g.id}/abort/", {}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "ended"
    r = _client(users[0]).post(f"/api/groups/{g.id}/start/")
    assert r.status_code == 409 and r.json()["code"] == "not_recruiting"


def _wait(cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _wait_for_blocks(timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while Transaction.objects.filter(status=Transaction.Status.PENDING).exists():
        assert time.monotonic() < end, "transactions still pending"
        ledger_tasks.run_consensus.delay(timeout_s=5.0)
        time.sleep(1.0)


def _running(users, g) -> CooperativeGroup:
    for u in users:
        assert _beat(u, g).status_code == 200
    services.start_group(group=g, by=users[0])
    _wait(lambda: CooperativeGroup.objects.get(pk=g.pk).status == "running", 120, "keys")
    return CooperativeGroup.objects.get(pk=g.pk)


@pytest.mark.django_db(transaction=True)
def test_an_abort_mid_round_refunds_the_open_deposit_and_the_stakes_and_audits_clean(
    celery_worker, tmp_path
):
    users = _users("mid")
    g = _running(users, _group(users))
    m = Membership.objects.select_related("account").get(group=g, user=users[1])
    ident = ledger.party_identity(m.account)
    blob = b"not a ciphertext vector"  # the verifier will reject it; its deposit is in escrow
    tx = make_tx(ident, TxKind.GRADIENT, m.account.nonce + 2, {"update_blob": blob_hash(blob)},
                 group=g.address, round=1, phase="gradient_submission",
                 timestamp_ms=int(time.time() * 1000)).to_dict()  # fmt: skip
    services.submit_gradient(group=g, round_number=1, membership=m, update_blob=blob,
                             signed_tx=tx)  # fmt: skip
    assert Account.objects.get(user=users[1]).balance == GRANT - 2 * DEPOSIT

    services.abort_group(group=g, by=users[0], reason="")
    g.refresh_from_db()
    assert g.status == "aborted" and g.status_reason == "aborted by the initiator"
    assert [Account.objects.get(user=u).balance for u in users] == [GRANT] * 3
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0
    assert ledger_selectors.balance(f"pool:{g.address}") == 0
    refund = LedgerEntry.objects.get(
        account=m.account, transaction__payload__reason="deposit_refund"
    )
    assert refund.delta == DEPOSIT and refund.transaction.round == 1
    assert Round.objects.get(group=g, number=1).finished_at is not None

    _wait_for_blocks()
    verdict = ledger_selectors.verify_chain(processes=1)
    assert verdict.ok, verdict.verdict()
    # the auditor refuses a second refund of the same deposit (a platform paying itself out)
    path = tmp_path / "ledger.json"
    call_command("audit_chain", export=str(path))
    doc = json.loads(path.read_text())
    store = BlobStore(ledger.blob_store().root)
    assert audit_protocol(doc, store).ok
    for b in doc["blocks"]:
        refunds = [t for t in b["transactions"] if t["payload"].get("reason") == "deposit_refund"]
        if refunds:
            b["transactions"].append(refunds[0])
    findings = [str(f) for f in audit_protocol(doc, store).findings]
    assert any("no unrefunded deposit" in f for f in findings), findings


@pytest.mark.django_db(transaction=True)
def test_a_round_without_any_gradient_ends_the_group_failed_with_its_reason(celery_worker):
    users = _users("fail")
    g = _running(users, _group(users))
    far = int(time.time() * 1000) + 10 * 600_000  # every deadline of round 1 has passed
    services.close_due_phases(far)
    g.refresh_from_db()
    assert g.status == "failed", g.status
    assert g.status_reason == "round 1: no accepted gradient: nothing to aggregate"
    assert not Round.objects.filter(group=g, number=2).exists()  # no second round to lose
    assert all(m.stake_remaining == 0 for m in Membership.objects.filter(group=g))
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0
    total, supply = ledger_selectors.total_supply_check()
    assert total == supply


def _register(user, ident: Identity):
    from deepchain.wire import registration_message

    msg = registration_message(user.id, ident.address, ident.public.box_pk)
    body = {"sign_pk": ident.address, "box_pk": ident.public.box_pk,
            "signature": ident.sign(msg).hex()}  # fmt: skip
    return _client(user).post("/api/agents/register/", body, format="json")


@pytest.mark.django_db
def test_a_browser_wallet_moves_to_its_agents_keys_and_the_platform_forgets_the_old_key(
    django_capture_on_commit_callbacks,
):
    user = _users("ho", 1)[0]
    old = Account.objects.get(user=user)
    key_file = ledger.keystore_path("users", f"{old.address}.json")
    assert key_file.exists() and old.balance == GRANT
    agent = Identity.generate()
    with django_capture_on_commit_callbacks(execute=True):
        r = _register(user, agent)
    assert r.status_code == 201 and r.json()["address"] == agent.address, r.content
    assert r.json()["custodial"] is False and r.json()["balance"] == GRANT
    old.refresh_from_db()
    assert old.user is None and old.balance == 0
    assert not key_file.exists()
    moved = Transaction.objects.get(sender=old.address, kind="transfer")
    assert moved.payload["amount"] == GRANT and moved.payload["to"] == agent.address
    # the agent's keys are now the only ones: another identity is refused
    assert _register(user, Identity.generate()).status_code == 409


@pytest.mark.django_db
def test_a_wallet_at_stake_in_an_open_group_is_not_handed_over():
    users = _users("hs")
    g = _group(users)
    r = _register(users[1], Identity.generate())
    assert r.status_code == 409 and r.json()["code"] == "has_stake"
    assert Account.objects.get(user=users[1]).balance == GRANT - DEPOSIT
    services.abort_group(group=g, by=users[0])
    assert _register(users[1], Identity.generate()).status_code == 201
