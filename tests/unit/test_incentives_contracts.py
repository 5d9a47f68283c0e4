"""Trading, Decryption and Processing contracts: deadlines, settlements, conservation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.incentives.clock import ContractError, Deadlines, LateError, ManualClock, Phase
from deepchain.incentives.contracts import (
    DecryptionContract,
    TradingContract,
)
from deepchain.incentives.money import (
    Reason,
    Transfer,
    escrow_account,
    pool_account,
    stake_account,
    stake_return_transfers,
    stake_transfers,
)
from deepchain.incentives.payoff import InsufficientFunds, apply_transfers
from deepchain.incentives.processing import (
    ProcessingContract,
    fee_transfers,
    fixed_point_mean,
    update_model_fixed_point,
)

G = "co1"
ESCROW, POOL, STAKE = escrow_account(G), pool_account(G), stake_account(G)
START = 10_000_000
PARTIES = ["p1", "p2", "p3", "p4"]


def schedule():
    return Deadlines.uniform(60_000).schedule(START, group=G, round_no=1)


def funded(parties, amount=1_000, stake=100):
    """Wallets after every party staked ``stake`` at join."""
    bal = {p: amount for p in parties}
    return apply_transfers(bal, stake_transfers(G, parties, stake))


def test_a_gradient_one_second_late_is_refused_and_penalised():
    clock = ManualClock(START)
    c = TradingContract(G, PARTIES, 10, schedule(), stakes={p: 100 for p in PARTIES})
    bal = funded(PARTIES)
    for p in PARTIES[:3]:
        clock.advance(1_000)
        bal = apply_transfers(bal, c.submit_gradient(p, clock.now_ms(), proof_ok=True).transfers)
    clock.set(c.schedule.deadline(Phase.T1) + 1_000)
    with pytest.raises(LateError) as e:
        c.submit_gradient("p4", clock.now_ms(), proof_ok=True)
    assert e.value.late_by_ms == 1_000 and e.value.phase == Phase.T1
    assert c.status("p4") == "late"
    s = c.close(clock.now_ms())
    assert s.penalised == {"p4": Reason.PENALTY_LATE.value}
    assert s.honest == ("p1", "p2", "p3")
    bal = apply_transfers(bal, s.transfers)
    assert bal["p4"] == 900 and c.stakes["p4"] == 90  # forfeited d = 10 from its stake
    assert bal[STAKE] == 390 and bal[ESCROW] == 0 and bal[POOL] == 0
    # the forfeit 10 is split over 3 honest parties: 4, 3, 3 (remainder tie -> "p1")
    assert [bal[p] for p in PARTIES[:3]] == [904, 903, 903]


def test_extra_pay_split_is_exact_and_deterministic():
    c = TradingContract(G, PARTIES, 10, schedule(), stakes={p: 100 for p in PARTIES})
    c.submit_gradient("p1", START + 1, True)
    c.submit_gradient("p2", START + 2, True)
    c.submit_gradient("p3", START + 3, True)
    s = c.close(c.schedule.deadline(Phase.T1) + 1)  # p4 absent: forfeits 10 from its stake
    assert s.penalised == {"p4": "penalty:absent"}
    assert s.extra_pay == {"p1": 4, "p2": 3, "p3": 3}  # 10 over 3: remainder to "p1" (tie)
    assert s.pool_retained == 0
    assert s.total_in(POOL) == s.total_out(POOL) == 10


def test_closing_twice_settles_once():
    c = TradingContract(G, PARTIES, 10, schedule(), stakes={p: 100 for p in PARTIES})
    c.submit_gradient("p1", START + 5, True)
    c.submit_gradient("p2", START + 6, False)
    at = c.schedule.deadline(Phase.T1) + 1
    first = c.close(at)
    assert first.transfers and not first.repeat
    second = c.close(at + 5_000)
    assert second.repeat and second.transfers == () and second.total_out(ESCROW) == 0
    assert c.settlement == first
    with pytest.raises(ContractError):
        c.submit_gradient("p3", START + 7, True)  # closed


def test_it_refuses_unknown_parties_double_submissions_and_an_early_close():
    c = TradingContract(G, PARTIES, 10, schedule())
    with pytest.raises(ContractError):
        c.submit_gradient("mallory", START + 1, True)
    c.submit_gradient("p1", START + 1, True)
    with pytest.raises(ContractError):
        c.submit_gradient("p1", START + 2, True)
    with pytest.raises(ContractError):
        c.close(START + 3)  # deadline not reached and not everyone submitted
    with pytest.raises(ContractError):
        c.submit_gradient("p2", START - 1, True)  # before the round starts


def test_everyone_on_time_allows_an_early_close_with_paybacks_only():
    c = TradingContract(G, PARTIES, 25, schedule())
    bal = funded(PARTIES, stake=0)
    for i, p in enumerate(PARTIES):
        bal = apply_transfers(bal, c.submit_gradient(p, START + i, True).transfers)
    assert bal[ESCROW] == 100
    s = c.close(START + 10)
    assert {t.reason for t in s.transfers} == {"payback"}
    assert apply_transfers(bal, s.transfers) == {**{p: 1_000 for p in PARTIES}, ESCROW: 0}


def test_a_cheater_pays_the_honest_parties_and_pending_verification_blocks_settlement():
    c = TradingContract(G, ["a", "b", "c"], 30, schedule())
    bal = {"a": 100, "b": 100, "c": 100}
    for p in "abc":
        bal = apply_transfers(bal, c.submit_gradient(p, START + 1, None).transfers)
    with pytest.raises(ContractError):
        c.close(c.schedule.deadline(Phase.T1) + 1)  # verification pending
    c.verify("a", True, at_ms=c.schedule.deadline(Phase.T1) + 2)
    c.verify("b", True)
    with pytest.raises(LateError):
        c.verify("c", False, at_ms=c.schedule.deadline(Phase.T2) + 1)  # verifier late
    c.verify("c", False)
    s = c.close(c.schedule.deadline(Phase.T1) + 3)
    assert s.penalised == {"c": "penalty:invalid_proof"}
    assert apply_transfers(bal, s.transfers) == {"a": 115, "b": 115, "c": 70, ESCROW: 0, POOL: 0}


def test_contribution_weights_steer_the_extra_pay():
    c = TradingContract(G, ["a", "b", "c"], 30, schedule())
    c.submit_gradient("a", START + 1, True)
    c.submit_gradient("b", START + 1, True)
    c.submit_gradient("c", START + 1, False)
    s = c.close(c.schedule.deadline(Phase.T1) + 1, weights={"a": 2, "b": 1}, pool_carry=6)
    assert s.extra_pay == {"a": 24, "b": 12}


def test_with_nobody_honest_the_pool_keeps_the_penalties():
    c = TradingContract(G, ["a", "b"], 30, schedule(), stakes={"b": 7})
    c.submit_gradient("a", START + 1, False)
    s = c.close(c.schedule.deadline(Phase.T1) + 1)
    assert s.honest == () and s.pool_retained == 37  # 30 deposit + all of b's 7 stake left
    assert s.total_in(POOL) == 37 and s.total_out(POOL) == 0


def test_contract_state_roundtrips_json_midway():
    c = TradingContract(G, PARTIES, 10, schedule(), stakes={p: 50 for p in PARTIES})
    c.submit_gradient("p1", START + 1, True)
    with pytest.raises(LateError):
        c.submit_gradient("p2", c.schedule.deadline(Phase.T1) + 1, True)
    c2 = TradingContract.from_json(c.to_json())
    assert c2.to_dict() == c.to_dict()
    at = c.schedule.deadline(Phase.T1) + 2
    assert c2.close(at) == c.close(at)
    d = DecryptionContract(G, PARTIES, 5, schedule(), threshold=3)
    d.submit_share("p3", d.schedule.opens_at(Phase.T5), True)
    assert DecryptionContract.from_json(d.to_json()).to_dict() == d.to_dict()


# --- decryption: t of N ----------------------------------------------------------------------

P = 2**127 - 1  # toy Shamir field standing in for threshold Paillier


def shamir(secret, t, n, rng):
    coeffs = [secret] + [rng.randrange(P) for _ in range(t - 1)]
    return {i: sum(a * pow(i, k, P) for k, a in enumerate(coeffs)) % P for i in range(1, n + 1)}


def combine(shares):
    total = 0
    for i, s in shares.items():
        lam = 1
        for j in shares:
            if j != i:
                lam = lam * (-j) * pow(i - j, -1, P) % P
        total = (total + s * lam) % P
    return total


def test_a_party_that_never_posts_its_share_loses_its_deposit_and_the_round_still_decrypts():
    rng = random.Random(7)
    parties = ["p1", "p2", "p3", "p4", "p5"]
    t, d = 3, 20
    shares = shamir(424242, t, len(parties), rng)
    sched = schedule()
    for p in (Phase.T1, Phase.T2, Phase.T3, Phase.T7, Phase.T8, Phase.T9, Phase.T4):
        sched = sched.close_phase(p, sched.deadline(p))
    c = DecryptionContract(G, parties, d, sched, threshold=t, stakes={p: 100 for p in parties})
    bal = funded(parties)
    clock = ManualClock(sched.opens_at(Phase.T5))
    for p in ["p1", "p3", "p4"]:
        clock.advance(500)
        bal = apply_transfers(bal, c.submit_share(p, clock.now_ms(), proof_ok=True).transfers)
    clock.advance(500)
    bal = apply_transfers(bal, c.submit_share("p5", clock.now_ms(), proof_ok=False).transfers)
    clock.set(sched.deadline(Phase.T5) + 1)
    s = c.close(clock.now_ms())
    assert s.decryptable and c.valid_shares == ("p1", "p3", "p4")
    assert s.penalised == {"p2": "penalty:absent", "p5": "penalty:invalid_proof"}
    bal = apply_transfers(bal, s.transfers)
    assert bal["p2"] == 900 and c.stakes["p2"] == 80  # lost d from its stake
    assert bal["p5"] == 880  # lost its deposit
    assert sum(bal[p] for p in ["p1", "p3", "p4"]) == 3 * 900 + 40
    idx = {p: i + 1 for i, p in enumerate(parties)}
    assert combine({idx[p]: shares[idx[p]] for p in c.valid_shares[:t]}) == 424242


def test_fewer_than_t_valid_shares_means_the_round_cannot_decrypt():
    c = DecryptionContract(G, ["a", "b", "c"], 5, schedule(), threshold=2)
    c.submit_share("a", c.schedule.opens_at(Phase.T5), True)
    s = c.close(c.schedule.deadline(Phase.T5) + 1)
    assert s.decryptable is False and s.honest == ("a",)


# --- conservation (hypothesis) ---------------------------------------------------------------

behaviour = st.sampled_from(["honest", "cheat", "late", "absent", "pending_ok", "pending_bad"])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(behaviour, min_size=1, max_size=7),
    st.integers(0, 1_000),
    st.lists(st.integers(0, 300), min_size=7, max_size=7),
    st.integers(0, 50),
    st.booleans(),
    st.booleans(),
)
def test_every_settlement_conserves_money(kinds, d, stakes, carry, weighted, decryption):
    parties = [f"p{i}" for i in range(len(kinds))]
    stake = dict(zip(parties, stakes, strict=False))
    sched = schedule()
    if decryption:
        c = DecryptionContract(G, parties, d, sched, threshold=1, stakes=stake)
        submit, phase = c.submit_share, Phase.T5
    else:
        c = TradingContract(G, parties, d, sched, stakes=stake)
        submit, phase = c.submit_gradient, Phase.T1
    bal = {p: 2_000 for p in parties}
    bal.update({ESCROW: 0, STAKE: 0, POOL: carry})
    bal = apply_transfers(bal, [t for p in parties for t in stake_transfers(G, [p], stake[p])])
    before = dict(bal)
    supply = sum(bal.values())
    at = c.schedule.opens_at(phase)
    for p, k in zip(parties, kinds, strict=True):
        if k == "late":
            with pytest.raises(LateError):
                submit(p, c.schedule.deadline(phase) + 1, True)
        elif k != "absent":
            ok = {"honest": True, "cheat": False}.get(k)
            bal = apply_transfers(bal, submit(p, at, ok).transfers)
    for p, k in zip(parties, kinds, strict=True):
        if k.startswith("pending"):
            c.verify(p, k == "pending_ok")
    weights = {p: i for i, p in enumerate(parties)} if weighted else None
    s = c.close(c.schedule.deadline(phase) + 1, pool_carry=carry, weights=weights)
    bal = apply_transfers(bal, s.transfers)  # raises if any account would go negative
    assert sum(bal.values()) == supply
    assert bal[ESCROW] == 0
    assert s.total_in(ESCROW) == 0 and s.total_out(ESCROW) == d * sum(
        k not in ("late", "absent") for k in kinds
    )
    assert s.total_in(POOL) + carry == s.total_out(POOL) + s.pool_retained
    assert bal[POOL] == s.pool_retained
    assert sum(s.extra_pay.values()) == s.total_out(POOL)
    for p, k in zip(parties, kinds, strict=True):
        honest = k in ("honest", "pending_ok")
        assert (p in s.honest) == honest and (p in s.penalised) != honest
        assert bal[p] >= before[p] if honest else bal[p] <= before[p]
        assert c.stakes[p] >= 0
    assert bal[STAKE] == sum(c.stakes.values())
    assert c.close(c.schedule.deadline(phase) + 2).transfers == ()


# --- processing contract --------------------------------------------------------------------

WORKERS = ["w1", "w2", "w3", "w4"]


def add_all(prev, grads):
    return prev + sum(grads)


def processing(parties=("a", "b", "c")):
    return ProcessingContract(G, WORKERS, schedule(), 100, list(parties), add_all)


def test_processing_contract_updates_verifies_and_appends_with_a_quorum():
    c = processing()
    at = c.schedule.opens_at(Phase.T7)
    assert c.update("w1", {"a": -1, "b": -2, "c": -3}, at) == 94
    assert all(c.verify(w, at) for w in WORKERS[:3])
    r = c.append(at)
    assert r.accepted and r.aggregate == 94 and c.aggregate == 94
    assert r.approvers == ("w1", "w2", "w3")
    fees = c.fee_transfers(7, POOL)
    assert [(t.destination, t.amount, t.reason) for t in fees] == [
        ("w1", 7, "worker_fee"), ("w2", 7, "worker_fee"), ("w3", 7, "worker_fee")
    ]  # fmt: skip
    again = c.append(at + 1)
    assert again.repeat and again.aggregate == 94


def test_a_wrong_aggregate_is_not_appended_and_earns_no_fee():
    c = ProcessingContract(
        G, WORKERS, schedule(), 100, ["a", "b"], lambda prev, g: prev + sum(g) + 1,  # bad leader
        verify_fn=lambda prev, g, cand: cand == add_all(prev, g),
    )  # fmt: skip
    at = c.schedule.opens_at(Phase.T7)
    c.update("w2", {"a": 1, "b": 2}, at)
    assert not any(c.verify(w, at) for w in WORKERS)
    r = c.append(at)
    assert not r.accepted and r.rejecters == tuple(WORKERS) and c.aggregate == 100
    assert c.fee_transfers(7, POOL) == []


def test_two_of_four_approvals_is_not_a_quorum():
    c = processing()
    at = c.schedule.opens_at(Phase.T7)
    c.update("w1", {"a": 1, "b": 1, "c": 1}, at)
    c.verify("w1", at)
    c.verify("w2", at, ok=True)
    c.verify("w3", at, ok=False)
    assert not c.append(at).accepted


def test_processing_refuses_dropped_gradients_outsiders_and_late_steps():
    c = processing()
    at = c.schedule.opens_at(Phase.T7)
    with pytest.raises(ContractError):
        c.update("w1", {"a": 1, "b": 1}, at)  # dropped c's gradient
    with pytest.raises(ContractError):
        c.update("eve", {"a": 1, "b": 1, "c": 1}, at)
    with pytest.raises(LateError):
        c.update("w1", {"a": 1, "b": 1, "c": 1}, c.schedule.deadline(Phase.T7) + 1)
    with pytest.raises(ContractError):
        c.verify("w1", at)  # nothing proposed
    r = c.append(c.schedule.deadline(Phase.T9))
    assert not r.accepted and r.reason == "no proposal"


def test_fee_transfers_pay_per_accepted_block():
    fees = fee_transfers(["w1", "w2", "w3"], {"w1": 3, "w2": 0, "w3": 1}, 5, POOL)
    assert [(t.source, t.destination, t.amount) for t in fees] == [
        (POOL, "w1", 15), (POOL, "w3", 5)
    ]  # fmt: skip
    with pytest.raises(ValueError):
        fee_transfers(["w1"], 1, -1, POOL)


def test_the_one_over_n_weight_is_applied_once_after_decryption():
    assert [fixed_point_mean(s, 4) for s in (10, 11, 14, -10, -11, -14, 0)] == [
        2,
        3,
        4,
        -2,
        -3,
        -4,
        0,
    ]  # fmt: skip; ties to even: 2.5 -> 2, 3.5 -> 4
    updates = [[3, -7, 1], [4, -7, 2], [4, -8, 2]]  # quantized dW of N = 3 parties
    sums = [sum(col) for col in zip(*updates, strict=True)]  # exact decrypted aggregate
    assert update_model_fixed_point([100, 100, 100], sums, 3) == [96, 107, 98]
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 20)
        s = rng.randint(-(10**9), 10**9)
        assert abs(fixed_point_mean(s, n) * n - s) * 2 <= n  # |error| <= 1/2


def test_stakes_are_returned_at_the_end_and_transfers_are_validated():
    bal = funded(["a", "b"], stake=40)
    bal = apply_transfers(bal, stake_return_transfers(G, {"a": 40, "b": 30}))
    assert bal == {"a": 1_000, "b": 990, STAKE: 10}
    with pytest.raises(InsufficientFunds):
        apply_transfers(bal, [Transfer(STAKE, "a", 11, "stake_return", "a")])
    with pytest.raises(ValueError):
        Transfer("a", "b", 0, "x")
    with pytest.raises(ValueError):
        Transfer("a", "a", 1, "x")
