"""Protocol auditor on a real small ledger: real 512-bit threshold Paillier, real Proof_PK /
Proof_CD, real contracts and Blockwise-BA blocks. A clean round audits clean; each protocol
fault (on an otherwise perfectly valid chain) is caught and named by block, tx and reason."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace

import numpy as np
import pytest

from deepchain.audit.__main__ import main
from deepchain.audit.chain import audit_ledger, export_ledger
from deepchain.audit.protocol import audit_protocol, audit_with_protocol
from deepchain.blobs import BlobStore
from deepchain.canonical import canonical_json
from deepchain.crypto.encoding import PackingScheme, SlotOverflowError
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import (
    DecryptionShare,
    EncryptedUpdate,
    aggregate,
    combine_vector,
    decryption_share,
    encrypt_update,
    proof_context,
    update_refusal,
    verify_decryption_share,
    verify_update,
)
from deepchain.crypto.zk.batch_proof_pk import prove_update
from deepchain.incentives.clock import Deadlines, Phase
from deepchain.incentives.contracts import DecryptionContract, TradingContract
from deepchain.incentives.money import Reason
from deepchain.incentives.payoff import contribution_weights
from deepchain.learning.strategies import Strategy, apply_strategy
from deepchain.ledger.sim import identity as sim_identity
from deepchain.ledger.sim import make_network, run_consensus_round
from deepchain.ledger.transactions import Transaction, TxKind, make_tx
from deepchain.party import model_replacement_update

ADDRS = [sim_identity(f"party{i}", 0).address for i in range(3)]  # make_network's parties


def grad_ctx(pk, i: int):
    """Party i's (0-based) gradient-proof context in round 1 of GROUP, as the chain records it."""
    return proof_context(pk, GROUP, 1, Phase.T1.value, i + 1, ADDRS[i])


def share_ctx(pk, i: int):
    return proof_context(pk, GROUP, 1, Phase.T5.value, i + 1, ADDRS[i])


GROUP = "co-audit"
D = 50  # deposit d (and the group stake)
SIZES = [400, 200, 100]
LENGTH = 30


@dataclass(frozen=True)
class Material:
    pk: object
    shares: list
    scheme: PackingScheme
    q: list[np.ndarray]
    updates: list[EncryptedUpdate]
    cheat: EncryptedUpdate  # party 2's update with a ciphertext its proof does not match
    bad_slot: EncryptedUpdate  # party 0's update: a slot out of range, with a VALID proof


@pytest.fixture(scope="module")
def mat() -> Material:
    rng = random.Random(5)
    pk, shares = generate_threshold_keypair(512, 3, 2, rng)
    scheme = PackingScheme(n_bits=pk.n_bits, Q=20, N_max=16, scale=2.0**16)
    nrng = np.random.default_rng(5)
    q = [nrng.integers(-5000, 5000, LENGTH) for _ in range(3)]
    updates = [
        encrypt_update(pk, scheme, qi, rng=random.Random(i), ctx=grad_ctx(pk, i))
        for i, qi in enumerate(q)
    ]
    cts = list(updates[2].ciphertexts)
    cts[0] = pk.encrypt(1, rng=rng)
    cheat = replace(updates[2], ciphertexts=cts)
    assert not verify_update(pk, scheme, cheat, ctx=grad_ctx(pk, 2))
    ms = scheme.pack(q[0])
    mask = (1 << scheme.slot_bits) - 1  # slot 0 := 2^(w-1), far above any honest slot sum
    ms[0] = (ms[0] & ~mask) | (1 << (scheme.slot_bits - 1))  # still < 2^B, so provable
    alphas = [rng.getrandbits(448) for _ in ms]
    cts = [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)]
    proof = prove_update(pk, scheme, cts, ms, alphas, rng, ctx=grad_ctx(pk, 0))
    bad_slot = EncryptedUpdate(cts, [], LENGTH, batch_proof=proof)
    assert verify_update(pk, scheme, bad_slot, ctx=grad_ctx(pk, 0))
    return Material(pk, shares, scheme, q, updates, cheat, bad_slot)


@pytest.fixture(scope="module")
def bounded(mat) -> Material:
    """The same key and updates in a group with a bound (|q| <= 5000, slot-bound proofs);
    party 2 sends a model-replacement update instead (N = 3 times its own, valid Proof_PK)."""
    scheme = replace(mat.scheme, bound=5000)
    updates = [
        encrypt_update(mat.pk, scheme, qi, rng=random.Random(i), ctx=grad_ctx(mat.pk, i))
        for i, qi in enumerate(mat.q)
    ]
    _, scaled = model_replacement_update(mat.pk, scheme, mat.q[2], grad_ctx(mat.pk, 2))
    assert verify_update(mat.pk, scheme, scaled, ctx=grad_ctx(mat.pk, 2))
    return replace(mat, scheme=scheme, updates=updates, cheat=scaled)


class Chain:
    """Signs transactions with per-identity nonces and seals them into consensus blocks."""

    def __init__(self) -> None:
        self.net = make_network(4, n_parties=3, balance=1_000)
        self.nonce: dict[str, int] = {}
        self.pending: list[Transaction] = []
        self.height = 0

    def tx(self, who, kind, payload, **kw) -> Transaction:
        n = self.nonce[who.address] = self.nonce.get(who.address, 0) + 1
        t = make_tx(who, kind, n, payload, group=GROUP, **kw)
        self.pending.append(t)
        return t

    def seal(self) -> None:
        self.height += 1
        out = run_consensus_round(self.net.nodes, self.pending, self.height * 1000, 500)
        assert out.final, out
        self.pending = []

    def export(self) -> dict:
        return export_ledger(self.net.nodes[0].chain)


def _clock(c: Chain, r: int, *phases: Phase, **extra) -> None:
    for ph in phases:
        c.tx(c.net.authority, TxKind.CLOCK, {"closed": ph.value, **extra}, round=r, phase=ph.value)


def _apply(c: Chain, r: int, phase: Phase, transfers, payout_to=None) -> None:
    """training_app._apply_transfers: contract transfers as PAYOUT / PENALTY transactions."""
    for tr in transfers:
        kw = dict(round=r, phase=phase.value)
        if tr.destination.startswith("pool:"):
            c.tx(c.net.authority, TxKind.PENALTY,
                 {"party": tr.party, "amount": tr.amount, "reason": tr.reason}, **kw)  # fmt: skip
        else:
            to = tr.destination
            if payout_to is not None and tr.reason == Reason.PAYBACK.value:
                to, payout_to = payout_to, None  # the fault: one payback to the wrong account
            src = "pool" if tr.source.startswith("pool:") else "escrow"
            pay = {"to": to, "source": src, "amount": tr.amount, "reason": tr.reason}
            c.tx(c.net.authority, TxKind.PAYOUT, pay, **kw)


def build(
    mat: Material,
    store: BlobStore,
    *,
    cheat: bool = False,  # party 2 sends an update whose Proof_PK fails
    verify_lie: bool = False,  # ...and the VERIFY says ok anyway
    verify_reject_good: bool = False,  # the VERIFY of party 0's good gradient says rejected
    copy: bool = False,  # party 1 submits party 0's update blob
    copy_accepted: bool = False,  # ...and the VERIFY says ok anyway
    agg_mode: str = "ok",  # "omit" the last accepted gradient / "double" the first
    bad_share: bool = False,  # party 1's decryption share has a bad Proof_CD, VERIFY says ok
    silent_share: int | None = None,  # this party posts no decryption share
    result_delta: int = 0,  # added to one value of the published result
    payout_to: str | None = None,  # the first payback goes to this account instead
    pk_on_chain: bool = True,
    strategy: dict | None = None,  # Tran_co's strategy record (absent: FedAvg)
    params: str | None = None,  # T6 publishes W_1: "honest" / "fedavg" (ignores the strategy)
    bad_slot: bool = False,  # party 0's proven update has an out-of-range slot: no decode
    fake_decode_failure: bool = False,  # the platform records a decode failure that is not
) -> tuple[dict, Chain]:
    c = Chain()
    auth, parties = c.net.authority, c.net.parties
    addrs = [p.address for p in parties]
    pk, scheme = mat.pk, mat.scheme
    # join: group stakes
    for p in parties:
        c.tx(p, TxKind.DEPOSIT, {"amount": D, "reason": Reason.STAKE.value})
    c.seal()
    # Tran_co
    pk_blob = store.put(canonical_json(pk.to_json())) if pk_on_chain else None
    w0 = store.put(np.zeros(LENGTH, dtype="<f4").tobytes())
    payload = {"N": 3, "t": 2, "rounds": 1, "model": "tiny", "pk_model": pk.fingerprint(),
               "pk_model_n_bits": pk.n_bits, "packing": scheme.to_json(), "parties": addrs,
               "w0_blob": w0, "data_sizes": SIZES, "deposit": D}  # fmt: skip
    if pk_blob:
        payload["pk_model_blob"] = pk_blob
    if strategy is not None:
        payload["strategy"] = strategy
    c.tx(auth, TxKind.GROUP_CREATE, payload)
    c.seal()
    # T1: gradients with deposits
    r = 1
    ups = list(mat.updates)
    if cheat:
        ups[2] = mat.cheat
    if bad_slot:
        ups[0] = mat.bad_slot
    blobs = [store.put(u.to_bytes(pk)) for u in ups]
    if copy:
        blobs[1] = blobs[0]
    grads = []
    for p, b in zip(parties, blobs, strict=True):
        c.tx(p, TxKind.DEPOSIT, {"amount": D, "reason": "deposit"}, round=r, phase=Phase.T1.value)
        body = {"update_blob": b, "deposit": D, "length": LENGTH, "pk": pk.fingerprint()}
        grads.append(c.tx(p, TxKind.GRADIENT, body, round=r, phase=Phase.T1.value))
    c.seal()
    # T2: fsver1 verdicts
    oks = []
    for i, (g, b) in enumerate(zip(grads, blobs, strict=True)):
        upd = EncryptedUpdate.from_bytes(store.get(b), pk)
        ok = update_refusal(pk, scheme, upd, ctx=grad_ctx(pk, i)) == ""
        if i == 2 and verify_lie:
            ok = True
        if i == 0 and verify_reject_good:
            ok = False
        if i == 1 and copy_accepted:
            ok = True
        oks.append(ok)
        body = {"subject": g.tx_hash, "what": "proof_pk", "party": addrs[i], "blob": b,
                "ok": ok, "reason": ""}  # fmt: skip
        if i == 1 and copy and not copy_accepted:  # refused as a copy, as the platform does
            body["duplicate_of"] = grads[0].tx_hash
        c.tx(auth, TxKind.VERIFY, body, round=r, phase=Phase.T2.value)
    c.seal()
    sched = Deadlines.default().schedule(0, group=GROUP, round_no=r)
    stakes = {a: D for a in addrs}
    tc = TradingContract(GROUP, addrs, D, sched, stakes=stakes)
    for a, ok in zip(addrs, oks, strict=True):
        tc.submissions[a] = (0, ok)
    sizes = dict(zip(addrs, SIZES, strict=True))
    s1 = tc.close(1, weights=contribution_weights({a: 1 for a in tc.honest}, sizes))
    _clock(c, r, Phase.T1, Phase.T2)
    _apply(c, r, Phase.T1, s1.transfers, payout_to)
    _clock(c, r, Phase.T3)
    c.seal()
    # T7-T9: the Processing contract's aggregate
    acc = [i for i in range(3) if oks[i]]
    vecs = [EncryptedUpdate.from_bytes(store.get(blobs[i]), pk).ciphertexts for i in acc]
    agg_in = {"ok": vecs, "omit": vecs[:-1], "double": [vecs[0], *vecs]}[agg_mode]
    agg = aggregate(pk, agg_in)
    agg_blob = store.put(EncryptedUpdate(agg, [], LENGTH).to_bytes(pk))
    worker = c.net.nodes[0].identity
    c.tx(worker, TxKind.AGGREGATE,
         {"aggregate_blob": agg_blob, "inputs": [grads[i].tx_hash for i in acc],
          "n_accepted": len(acc), "approvers": ["w0"]}, round=r, phase=Phase.T9.value)  # fmt: skip
    _clock(c, r, Phase.T7, Phase.T8, Phase.T9, Phase.T4)
    c.seal()
    # T5: decryption shares
    dss, subs = {}, {}
    for i, p in enumerate(parties):
        if i == silent_share:
            continue
        ds = decryption_share(
            pk, mat.shares[i], agg, rng=random.Random(10 + i), ctx=share_ctx(pk, i)
        )
        if bad_share and i == 1:
            ds = DecryptionShare(ds.i, [ds.c_is[0] * 2 % pk.n2, *ds.c_is[1:]], ds.proof)
        dss[i] = ds
        b = store.put(ds.to_bytes(pk))
        c.tx(p, TxKind.DEPOSIT, {"amount": D, "reason": "deposit"}, round=r, phase=Phase.T5.value)
        subs[i] = (c.tx(p, TxKind.DECRYPTION_SHARE,
                        {"share_blob": b, "aggregate_blob": agg_blob, "deposit": D, "i": ds.i},
                        round=r, phase=Phase.T5.value), b)  # fmt: skip
    c.seal()
    share_ok = {}
    for i, (t, b) in subs.items():
        ok = verify_decryption_share(pk, agg, dss[i], ctx=share_ctx(pk, i)) or (
            bad_share and i == 1
        )
        share_ok[i] = ok
        c.tx(auth, TxKind.VERIFY, {"subject": t.tx_hash, "what": "proof_cd", "party": addrs[i],
                                   "blob": b, "ok": ok, "reason": ""},
             round=r, phase=Phase.T5.value)  # fmt: skip
    c.seal()
    dc = DecryptionContract(GROUP, addrs, D, sched, threshold=2, stakes=dict(tc.stakes))
    for i, ok in share_ok.items():
        dc.submissions[addrs[i]] = (0, ok)
    s5 = dc.close(sched.deadline(Phase.T5) + 1,
                  weights=contribution_weights({a: 1 for a in dc.honest}, sizes))  # fmt: skip
    _clock(c, r, Phase.T5)
    _apply(c, r, Phase.T5, s5.transfers)
    c.seal()
    # T6: the published result S
    good = [dss[i] for i in sorted(dss) if share_ok[i] and not (bad_share and i == 1)]
    try:
        sums = scheme.unpack(combine_vector(pk, good), LENGTH, len(acc))
    except SlotOverflowError as exc:  # the blame record, as training_app writes it
        _clock(c, r, Phase.T6, decode_failed=f"decryption failed: {exc}", n_accepted=len(acc))
    else:
        if fake_decode_failure:
            _clock(c, r, Phase.T6, decode_failed="decryption failed: made up", n_accepted=3)
        else:
            sums = sums.copy()
            sums[3] += result_delta
            res_blob = store.put(np.asarray(sums, dtype="<i8").tobytes())
            extra = {}
            if params is not None:
                strat = (
                    Strategy.from_json(strategy) if strategy and params == "honest" else Strategy()
                )
                w_1, _ = apply_strategy(strat, np.zeros(LENGTH, np.float32), sums, len(acc),
                                        strat.initial_state(LENGTH, 16), 16)  # fmt: skip
                extra["params_blob"] = store.put(np.asarray(w_1, dtype="<f4").tobytes())
            _clock(c, r, Phase.T6, result_blob=res_blob, n_accepted=len(acc), **extra)
    c.seal()
    # group end: what is left of each stake goes back
    for a in addrs:
        if dc.stakes[a]:
            c.tx(auth, TxKind.PAYOUT, {"to": a, "source": "escrow", "amount": dc.stakes[a],
                                       "reason": Reason.STAKE_RETURN.value})  # fmt: skip
    c.seal()
    return c.export(), c


def _height_of(doc: dict, tx_hash: str) -> int:
    for b in doc["blocks"]:
        if any(Transaction.from_dict(t).tx_hash == tx_hash for t in b["transactions"]):
            return b["header"]["height"]
    raise AssertionError("tx not on chain")


def _kind_of(doc: dict, tx_hash: str) -> str:
    for b in doc["blocks"]:
        for t in b["transactions"]:
            if Transaction.from_dict(t).tx_hash == tx_hash:
                return t["kind"]
    raise AssertionError("tx not on chain")


def _caught(doc, store, check: str, kind: str, words: str):
    """The structural audit passes; the protocol audit fails at a ``kind`` tx, naming it."""
    assert audit_ledger(doc, store).ok
    rep, _aud = audit_with_protocol(doc, store)
    assert not rep.ok
    tx = rep.first_bad["tx"]
    assert _kind_of(doc, tx) == kind
    assert rep.first_bad["block"] == _height_of(doc, tx)
    assert rep.reason.startswith(f"[{check}]") and words in rep.reason, rep.reason
    return rep


@pytest.fixture
def store(tmp_path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_an_honest_round_audits_clean_and_the_decrypted_sum_is_the_parties_sum(mat, store):
    doc, c = build(mat, store)
    rep, aud = audit_with_protocol(doc, store)
    assert rep.ok, rep.reason
    assert aud.findings == []
    costs = rep.counts["protocol"]
    assert costs["proof_pk"]["count"] == 3 and costs["proof_cd"]["count"] == 3
    assert costs["aggregate"]["count"] == 1 and costs["result"]["count"] == 1
    # every party paid back and its stake returned: balances back where they started
    assert all(rep.balances[p.address] == 1_000 for p in c.net.parties)
    sums = np.frombuffer(store.get(_result_blob(doc)), dtype="<i8")
    assert np.array_equal(sums, np.sum(mat.q, axis=0))


def _result_blob(doc: dict) -> str:
    for b in doc["blocks"]:
        for t in b["transactions"]:
            if t["kind"] == "clock" and "result_blob" in t["payload"]:
                return t["payload"]["result_blob"]
    raise AssertionError("no result on chain")


def test_a_correctly_rejected_cheater_and_a_silent_party_are_penalised_and_audit_clean(mat, store):
    doc, c = build(mat, store, cheat=True, silent_share=0)
    rep, aud = audit_with_protocol(doc, store)
    assert rep.ok, rep.reason
    p0, p1, p2 = (p.address for p in c.net.parties)
    # T1: the cheater forfeits d, split 400:200 as extra pay (33, 17 after rounding);
    # T5: the silent party forfeits d of its stake, split 200:100 (33, 17)
    assert rep.balances[p2] == 1_000 - D + 17
    assert rep.balances[p0] == 1_000 + 33 - D
    assert rep.balances[p1] == 1_000 + 17 + 33
    kinds = [f.check for f in aud.findings]
    assert kinds == []


def test_it_names_a_gradient_copied_from_another_party(mat, store):
    """A platform that lets a copied update through (VERIFY ok) is named at that VERIFY: its
    Proof_PK is bound to the party it was made for, and it breaks the copy rule."""
    doc, _ = build(mat, store, copy=True, copy_accepted=True)
    _caught(doc, store, "verify", "verify", "VERIFY says ok but the Proof_PK")
    every = [str(f) for f in audit_protocol(doc, store).findings]
    assert any("copied ciphertext" in f and "not refused" in f for f in every), every


def test_a_refused_copy_audits_clean_and_the_copier_pays(mat, store):
    """The same copy, refused (VERIFY not ok), as the platform does at submission: the chain
    audits clean and the copier forfeits its deposit."""
    doc, c = build(mat, store, copy=True)
    rep, aud = audit_with_protocol(doc, store)
    assert rep.ok, rep.reason
    assert aud.findings == []
    p0, p1, p2 = (p.address for p in c.net.parties)
    assert rep.balances[p1] < 1_000 - D // 2 < rep.balances[p0]


def test_it_names_a_verify_that_accepts_a_bad_proof(mat, store):
    doc, _ = build(mat, store, cheat=True, verify_lie=True)
    _caught(doc, store, "verify", "verify", "says ok but the Proof_PK")


def test_it_names_a_verify_that_rejects_a_good_proof(mat, store):
    doc, _ = build(mat, store, verify_reject_good=True)
    _caught(doc, store, "verify", "verify", "says rejected but the Proof_PK")


@pytest.mark.parametrize("mode", ["omit", "double"])
def test_it_names_an_aggregate_that_omits_or_double_counts_a_gradient(mat, store, mode):
    doc, _ = build(mat, store, agg_mode=mode)
    _caught(doc, store, "aggregate", "aggregate", "is not the product of the 3 accepted")


def test_it_names_a_decryption_share_with_a_bad_proof_that_was_accepted(mat, store):
    doc, _ = build(mat, store, bad_share=True)
    _caught(doc, store, "verify", "verify", "says ok but the Proof_CD")


def test_it_names_a_result_that_is_not_the_combination_of_the_shares(mat, store):
    doc, _ = build(mat, store, result_delta=1)
    _caught(doc, store, "result", "clock", "1 of 30 values differ")


def test_it_names_a_payback_to_the_wrong_account(mat, store):
    doc, _ = build(mat, store, payout_to=c_worker_address())
    rep = _caught(doc, store, "settlement", "payout", "is not in the contract's settlement")
    assert "payback" in rep.reason


def c_worker_address() -> str:
    return make_network(4, n_parties=3).nodes[1].identity.address


def test_a_group_whose_public_key_is_not_on_chain_is_a_finding(mat, store):
    doc, _ = build(mat, store, pk_on_chain=False)
    _caught(doc, store, "group", "group_create", "PK_model is not available")


def test_the_standalone_pass_reports_every_finding_and_the_process_pool_agrees(mat, store):
    doc, _ = build(mat, store, cheat=True, verify_lie=True, result_delta=5)
    one = audit_protocol(doc, store, processes=1)
    two = audit_protocol(doc, store, processes=2)
    assert [f.check for f in one.findings] == ["verify", "result"]
    assert one.findings == two.findings
    assert all(f.height >= 1 and len(f.tx) == 64 for f in one.findings)


def test_the_cli_runs_the_protocol_checks_with_blobs_and_skips_them_on_request(
    mat, store, tmp_path, capsys
):
    doc, _ = build(mat, store, agg_mode="double")
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps(doc))
    assert main([str(path), "--blobs", str(store.root)]) == 1
    out = capsys.readouterr().out
    assert "FAIL at block" in out and "[aggregate]" in out
    assert main([str(path), "--blobs", str(store.root), "--no-protocol"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("OK")


ADAM = Strategy("fedadam", server_lr=0.01, beta1=0.5, tau=0.01, mu=0.1).to_json()


@pytest.mark.parametrize("strategy", [None, ADAM], ids=["fedavg", "fedadam"])
def test_the_auditor_re_derives_each_rounds_model_with_the_recorded_strategy(mat, store, strategy):
    doc, _ = build(mat, store, strategy=strategy, params="honest")
    rep, aud = audit_with_protocol(doc, store)
    assert rep.ok, rep.reason
    assert rep.counts["protocol"]["model"]["count"] == 1
    (models,) = aud.models.values()
    strat = Strategy.from_json(strategy) if strategy else Strategy()
    sums = np.frombuffer(store.get(_result_blob(doc)), dtype="<i8")
    w_1, _ = apply_strategy(strat, np.zeros(LENGTH, np.float32), sums, 3,
                            strat.initial_state(LENGTH, 16), 16)  # fmt: skip
    assert models == {1: store.put(np.asarray(w_1, dtype="<f4").tobytes())}


def test_it_names_a_platform_that_publishes_a_model_ignoring_the_groups_strategy(mat, store):
    """The attack: the platform records FedAdam in Tran_co but publishes the FedAvg W_1."""
    doc, _ = build(mat, store, strategy=ADAM, params="fedavg")
    _caught(doc, store, "model", "clock", "not the model re-derived")


def test_it_names_a_tran_co_with_an_invalid_strategy(mat, store):
    bad = {**ADAM, "tau": "0x0.0p+0"}
    doc, _ = build(mat, store, strategy=bad)
    _caught(doc, store, "group", "group_create", "strategy")


def test_a_round_that_does_not_decode_is_on_chain_and_audits_clean_with_its_proofs_rechecked(
    mat, store
):
    """A proven update with an out-of-range slot (Proof_PK bounds the plaintext, not each
    slot) makes the aggregate undecodable: the T6 record says so, the honest decryptors got
    their deposits back, and the auditor re-derives the failure and re-checks every accepted
    Proof_PK of the round without bricking the audit."""
    doc, c = build(mat, store, bad_slot=True)
    rep, aud = audit_with_protocol(doc, store)
    assert rep.ok, rep.reason
    assert all(rep.balances[p.address] == 1_000 for p in c.net.parties)
    [fail] = aud.decode_failures
    assert fail["round"] == 1 and "slot" in fail["reason"]
    assert [a["proof_ok"] for a in fail["accepted"]] == [True, True, True]
    assert audit_protocol(doc, store).decode_failures == aud.decode_failures


def test_a_decode_failure_that_decodes_is_named(mat, store):
    doc, _ = build(mat, store, fake_decode_failure=True)
    _caught(doc, store, "result", "clock", "t valid shares decode the aggregate")


def test_a_refused_model_replacement_audits_clean_and_the_poisoner_pays(bounded, store):
    doc, c = build(bounded, store, cheat=True)
    rep, aud = audit_with_protocol(doc, store)
    assert rep.ok, rep.reason
    assert aud.findings == []
    assert rep.balances[c.net.parties[2].address] < 1_000 - D // 2


def test_it_names_a_verify_that_accepts_a_model_replacement_update(bounded, store):
    """A platform that checks Proof_PK alone lets the scaled update through: the auditor,
    applying the group's bound from Tran_co's packing, names that VERIFY."""
    doc, _ = build(bounded, store, cheat=True, verify_lie=True)
    _caught(doc, store, "verify", "verify", "slot-bound proof does not verify (bits)")
