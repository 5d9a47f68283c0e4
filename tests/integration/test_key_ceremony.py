"""The dealerless key ceremony through the platform: real Celery worker, Redis and Daphne; the
parties are the party agent's ceremony client (the CLI's code) talking REST only, run by the
worker as the demo's simulated parties. 512-bit keys keep a ceremony to seconds.

The platform relays sealed, signed envelopes and never holds a private key, so every
assertion about secrets reads the parties' own keystores, which only the test can see.
"""

from __future__ import annotations

import itertools
import json
import random
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from deepchain.audit.protocol import audit_protocol
from deepchain.blobs import BlobStore, blob_hash
from deepchain.canonical import canonical_json
from deepchain.ceremony_agent import share_path
from deepchain.crypto.dkg.envelope import check_envelope
from deepchain.crypto.dkg.party import ceremony_share_context
from deepchain.crypto.dkg.verify import transcript_from_json, transcript_to_json, verify_public_key
from deepchain.crypto.paillier import KeyShare, ThresholdPublicKey, combine, partial_decrypt
from deepchain.crypto.zk.proof_cd import prove_cd, verify_cd
from ledger_app import selectors as ledger_selectors
from ledger_app import services as ledger
from ledger_app import tasks as ledger_tasks
from ledger_app.models import Account, Transaction
from training_app import key_ceremony, services
from training_app.models import CeremonyMessage, CooperativeGroup, KeyCeremony
from training_app.tasks import agent_dir

pytestmark = pytest.mark.django_db(transaction=True)

GRANT = 10_000
DEPOSIT = 40
N, T_DECRYPT = 4, 3


def _users(prefix: str, n: int = N):
    out = []
    for i in range(n):
        u = get_user_model().objects.create_user(username=f"{prefix}-{i}", password="x")
        ledger.create_party_account(user=u, grant=GRANT)
        out.append(u)
    return out


def _start(users, url: str, behaviours=None, round_ms: int = 60_000, t: int = T_DECRYPT,
           bits: int = 512) -> CooperativeGroup:  # fmt: skip
    g = services.create_group(
        initiator=users[0], name="ceremony", n_parties=len(users), threshold=t,
        rounds=1, deposit=DEPOSIT, model_name="tiny", key_bits=bits, data_limit=500,
        api_url=url, key_origin="dealerless", key_round_ms=round_ms, simulated=True,
        deadlines={"T1": 600_000, "T2": 600_000, "T5": 600_000},
    )  # fmt: skip
    for u, b in zip(users, behaviours or ["honest"] * len(users), strict=True):
        services.join_group(group=g, user=u, data_size=100, simulated=True, behaviour=b)
    services.start_group(group=g, by=users[0])
    return g


def _wait(g, until, timeout: float = 300.0) -> CooperativeGroup:
    """Poll (and play the beat) until ``until(g)``; bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        g.refresh_from_db()
        if until(g):
            return g
        key_ceremony.close_due()
        time.sleep(0.3)
    c = KeyCeremony.objects.filter(group=g).first()
    raise AssertionError(f"group {g.status}; ceremony {c and (c.status, c.round, c.phase)}")


def _address(u) -> str:
    return Account.objects.get(user=u).address


def _money_is_conserved(g) -> None:
    total, supply = ledger_selectors.total_supply_check()
    assert total == supply
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0


def _audited(tmp_path) -> tuple[dict, BlobStore]:
    """The exported chain once every transaction is in a block, and the blob store."""
    end = time.monotonic() + 240
    while Transaction.objects.filter(status=Transaction.Status.PENDING).exists():
        assert time.monotonic() < end, "transactions still pending"
        ledger_tasks.run_consensus.delay(timeout_s=5.0)
        time.sleep(1.0)
    path = tmp_path / "ledger.json"
    call_command("audit_chain", export=str(path))
    return json.loads(path.read_text()), BlobStore(ledger.blob_store().root)


def test_four_parties_make_the_key_through_the_api_and_any_three_decrypt(
    celery_worker, live_server_url, tmp_path
):
    users = _users("dkg")
    g = _start(users, live_server_url)
    g = _wait(g, lambda g: g.status != CooperativeGroup.Status.KEYGEN)
    c = KeyCeremony.objects.get(group=g)
    assert g.status == CooperativeGroup.Status.RUNNING, (g.status_reason, c.blame)
    assert c.status == KeyCeremony.Status.DONE and c.round >= 10 and not c.blame

    # Tran_co names the origin, PK_model and the ceremony's transcript hashes
    tx = Transaction.objects.get(group_ref=g.address, kind="group_create")
    pk = ThresholdPublicKey.from_json(g.public_key)
    assert tx.payload["key_origin"] == "dealerless"
    assert tx.payload["pk_model"] == pk.fingerprint()
    assert tx.payload["ceremony"]["transcript_hash"] == c.transcript_hash
    store = ledger.blob_store()
    tr = transcript_from_json(json.loads(store.get(tx.payload["ceremony"]["transcript_blob"])))
    assert verify_public_key(pk, tr, 512)  # anyone can rerun the public checks

    # every party holds its own share (0600 file) and any t of them decrypt
    shares = {}
    for u in users:
        path = share_path(agent_dir(_address(u)), g.address)
        assert path.stat().st_mode & 0o077 == 0
        share = KeyShare.from_json(json.loads(path.read_text()), pk)
        shares[share.i] = share
    assert sorted(shares) == [1, 2, 3, 4]
    rng = random.Random(3)
    m = rng.getrandbits(500)
    cipher = pk.encrypt(m, rng=rng)
    parts = {i: partial_decrypt(pk, s, cipher) for i, s in shares.items()}
    for subset in itertools.combinations(range(1, N + 1), T_DECRYPT):
        assert combine(pk, {i: parts[i] for i in subset}) == m
    with pytest.raises(ValueError):
        combine(pk, {i: parts[i] for i in (1, 2)})  # fewer than t
    for i, s in shares.items():
        ctx = ceremony_share_context(pk, i)
        proof = prove_cd(pk, s, [cipher], [parts[i]], rng, ctx=ctx)
        assert verify_cd(pk, i, [cipher], [parts[i]], proof, ctx=ctx)

    # the platform relayed only signed ciphertext: no share appears in anything it stored
    roster = key_ceremony.roster(g)
    msgs = list(CeremonyMessage.objects.filter(ceremony=c))
    assert len(msgs) == c.round * N * N
    secrets_ = [format(s.s_i, "x").encode() for s in shares.values()]
    secrets_ += [str(s.s_i).encode() for s in shares.values()]
    for msg in msgs:
        env = store.get(msg.blob)
        assert blob_hash(env) == msg.blob
        check_envelope(env, roster)
        assert not any(x in env for x in secrets_)
    assert not any(x in canonical_json(g.public_key) for x in secrets_)

    # the group trains on it like on a dealer's key: stop it here, money comes back exactly
    services.abort_group(group=g, by=users[0], reason="test over")
    _money_is_conserved(g)
    assert key_ceremony.verify_ceremony(c.id) is False  # the task run again changes nothing

    # the offline auditor reruns the public checks from Tran_co; a changed transcript fails
    doc, blobs = _audited(tmp_path)
    report = audit_protocol(doc, blobs)
    assert report.ok, [str(f) for f in report.findings]
    tr["commitments"][0][0] = tr["commitments"][0][0] * 4 % (pk.n * pk.n)
    forged = blobs.put(canonical_json(transcript_to_json(tr)))
    for b in doc["blocks"]:
        for t in b["transactions"]:
            if t["kind"] == "group_create" and t["group"] == g.address:
                t["payload"]["ceremony"]["transcript_blob"] = forged
    findings = [str(f) for f in audit_protocol(doc, blobs).findings]
    assert any("dealerless PK_model" in f for f in findings), findings


def test_ten_parties_make_the_key_through_the_api_and_any_six_decrypt(
    celery_worker, live_server_url
):
    users = _users("dkg10", 10)
    g = _start(users, live_server_url, t=6, bits=320)  # 320 bits: ~46 MB relayed, not ~170
    g = _wait(g, lambda g: g.status != CooperativeGroup.Status.KEYGEN)
    c = KeyCeremony.objects.get(group=g)
    assert g.status == CooperativeGroup.Status.RUNNING, (g.status_reason, c.blame)
    tx = Transaction.objects.get(group_ref=g.address, kind="group_create")
    assert tx.payload["key_origin"] == "dealerless"
    pk = ThresholdPublicKey.from_json(g.public_key)
    shares = {}
    for u in users:
        path = share_path(agent_dir(_address(u)), g.address)
        share = KeyShare.from_json(json.loads(path.read_text()), pk)
        shares[share.i] = share
    rng = random.Random(10)
    m = rng.getrandbits(300)
    cipher = pk.encrypt(m, rng=rng)
    parts = {i: partial_decrypt(pk, s, cipher) for i, s in shares.items()}
    for subset in itertools.combinations(range(1, 11), 6):
        assert combine(pk, {i: parts[i] for i in subset}) == m
    for i, s in shares.items():
        ctx = ceremony_share_context(pk, i)
        proof = prove_cd(pk, s, [cipher], [parts[i]], rng, ctx=ctx)
        assert verify_cd(pk, i, [cipher], [parts[i]], proof, ctx=ctx)
    services.abort_group(group=g, by=users[0], reason="test over")
    _money_is_conserved(g)


def test_a_party_that_goes_silent_mid_ceremony_is_named_and_loses_its_deposit(
    celery_worker, live_server_url
):
    users = _users("dkg-silent")
    g = _start(users, live_server_url, ["honest"] * 3 + ["silent_keygen"], round_ms=8_000)
    g = _wait(g, lambda g: g.status != CooperativeGroup.Status.KEYGEN)
    c = KeyCeremony.objects.get(group=g)
    assert g.status == CooperativeGroup.Status.FAILED and "P4" in g.status_reason
    assert c.status == KeyCeremony.Status.FAILED and g.public_key is None
    assert [(b["party"], b["proven"]) for b in c.blame] == [(4, True)]
    assert c.blame[0]["round"] == 2  # it posted rounds 0 and 1, then nothing
    pen = Transaction.objects.get(group_ref=g.address, kind="penalty")
    assert pen.payload["reason"] == "penalty:key_setup"
    assert pen.payload["party"] == _address(users[3]) and pen.payload["amount"] == DEPOSIT
    assert not Transaction.objects.filter(group_ref=g.address, kind="group_create").exists()
    balances = [Account.objects.get(user=u).balance for u in users]
    assert balances == [GRANT] * 3 + [GRANT - DEPOSIT]
    assert ledger_selectors.balance(f"pool:{g.address}") == DEPOSIT
    _money_is_conserved(g)


def test_a_share_off_its_committed_polynomial_is_shown_and_its_dealer_named(
    celery_worker, live_server_url
):
    users = _users("dkg-cheat")
    g = _start(users, live_server_url, ["honest", "honest", "cheat_keygen", "honest"])
    g = _wait(g, lambda g: g.status != CooperativeGroup.Status.KEYGEN)
    c = KeyCeremony.objects.get(group=g)
    assert g.status == CooperativeGroup.Status.FAILED and g.public_key is None
    assert [(b["party"], b["proven"], b["phase"]) for b in c.blame] == [(3, True, "share")]
    assert "committed polynomial" in c.blame[0]["reason"]
    assert "shown by party 4" in c.blame[0]["reason"]  # the recipient of the bad share
    pen = Transaction.objects.get(group_ref=g.address, kind="penalty")
    assert pen.payload["party"] == _address(users[2])
    balances = [Account.objects.get(user=u).balance for u in users]
    assert balances == [GRANT, GRANT, GRANT - DEPOSIT, GRANT]
    _money_is_conserved(g)
