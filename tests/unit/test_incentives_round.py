"""One whole round driven like the platform will: clock, Trading, Processing, Decryption.

Real threshold Paillier (small key) for the aggregate and the decryption shares (Proof_CD as
fsver2); the contracts only see verdicts and return transfers, which the test applies.
"""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from deepchain.incentives import (
    Deadlines,
    DecryptionContract,
    LateError,
    ManualClock,
    Phase,
    ProcessingContract,
    TradingContract,
    apply_transfers,
    pool_account,
    stake_account,
    stake_transfers,
)
from deepchain.incentives.processing import update_model_fixed_point
from tests.proofctx import share_ctx

paillier = pytest.importorskip("deepchain.crypto.paillier")
proof_cd = pytest.importorskip("deepchain.crypto.zk.proof_cd")

G = "co7"
PARTIES = [f"p{i}" for i in range(1, 7)]
WORKERS = ["w1", "w2", "w3"]


def test_a_round_with_late_cheating_and_silent_parties_still_decrypts_and_conserves_money():
    rng = random.Random(2024)
    pk, keys = paillier.generate_threshold_keypair(256, len(PARTIES), 3, rng)
    key_of = dict(zip(PARTIES, keys, strict=True))
    d, stake = 20, 50
    bal = {p: 1_000 for p in PARTIES} | {w: 0 for w in WORKERS} | {"buyer": 90}
    supply = sum(bal.values())
    bal = apply_transfers(bal, stake_transfers(G, PARTIES, stake))
    clock = ManualClock(1_000_000)
    sched = Deadlines.uniform(10_000).schedule(clock.now_ms(), group=G, round_no=1)
    stakes = {p: stake for p in PARTIES}

    # T1: gradients -q_j (fixed point) with deposit d; p5's Proof_PK fails, p6 is 1 s late
    q = {p: rng.randint(-500, 500) for p in PARTIES}
    enc = {p: pk.encrypt(-q[p] % pk.n, rng=rng) for p in PARTIES}
    trading = TradingContract(G, PARTIES, d, sched, stakes=stakes)
    for p in PARTIES[:5]:
        clock.advance(100)
        bal = apply_transfers(bal, trading.submit_gradient(p, clock.now_ms(), p != "p5").transfers)
    clock.set(sched.deadline(Phase.T1) + 1_000)
    with pytest.raises(LateError):
        trading.submit_gradient("p6", clock.now_ms(), True)
    clock.advance(2_000)  # the beat task runs 3 s after T_t1: updateTime() extends the rest
    sched = sched.close_phase(Phase.T1, clock.now_ms())
    assert sched.close_phase(Phase.T1, clock.now_ms() + 1) is None  # second beat: no-op
    s1 = trading.close(clock.now_ms())
    bal = apply_transfers(bal, s1.transfers)
    assert s1.honest == ("p1", "p2", "p3", "p4")
    assert s1.penalised == {"p5": "penalty:invalid_proof", "p6": "penalty:late"}
    stakes = dict(trading.stakes)
    for p in (Phase.T2, Phase.T3):
        sched = sched.close_phase(p, sched.deadline(p))

    # the model buyer funds the workers' fees
    bal = apply_transfers(bal, [t for t in _pay("buyer", pool_account(G), 90)])

    # T7-T9: workers aggregate C(S) = prod_j C(-q_j) over the honest parties
    def product(prev, grads):
        acc = prev
        for c in grads:
            acc = paillier.add(pk, acc, c)
        return acc

    proc = ProcessingContract(G, WORKERS, sched, pk.encrypt(0, rng=rng), s1.honest, product)
    at = sched.opens_at(Phase.T7)
    agg = proc.update("w1", {p: enc[p] for p in s1.honest}, at)
    for w in WORKERS:
        assert proc.verify(w, sched.deadline(Phase.T8))
    result = proc.append(sched.deadline(Phase.T9))
    assert result.accepted and proc.aggregate == agg
    bal = apply_transfers(bal, proc.fee_transfers(30, pool_account(G)))
    for p in (Phase.T7, Phase.T8, Phase.T9, Phase.T4):
        sched = sched.close_phase(p, sched.deadline(p))

    # T5: decryption shares with Proof_CD; p2 stays silent, p4's share is tampered
    dec = DecryptionContract(G, PARTIES, d, sched, threshold=3, stakes=stakes)
    clock.set(sched.opens_at(Phase.T5))
    posted = {}
    for p in ["p1", "p3", "p4", "p5", "p6"]:
        share = paillier.partial_decrypt(pk, key_of[p], agg)
        proof = proof_cd.prove_cd(
            pk, key_of[p], [agg], [share], rng=rng, ctx=share_ctx(pk, key_of[p].i)
        )
        if p == "p4":
            share = share * share % pk.n2
        ok = proof_cd.verify_cd(
            pk, key_of[p].i, [agg], [share], proof, ctx=share_ctx(pk, key_of[p].i)
        )  # fsver2
        clock.advance(100)
        bal = apply_transfers(bal, dec.submit_share(p, clock.now_ms(), ok).transfers)
        posted[p] = share
    clock.set(sched.deadline(Phase.T5) + 1)
    s2 = dec.close(clock.now_ms(), pool_carry=bal[pool_account(G)])
    bal = apply_transfers(bal, s2.transfers)
    assert s2.decryptable and dec.valid_shares == ("p1", "p3", "p5", "p6")
    assert s2.penalised == {"p2": "penalty:absent", "p4": "penalty:invalid_proof"}

    # combine t valid shares; apply the 1/N weight once, to the exact integer sum
    total = paillier.combine(pk, {key_of[p].i: posted[p] for p in dec.valid_shares[:3]})
    total = total - pk.n if total > pk.n // 2 else total  # centred lift of Z_n
    sum_dw = sum(q[p] for p in s1.honest)
    assert total == -sum_dw  # decrypted the sum of the honest parties' C(-dW) only
    (w1,) = update_model_fixed_point([10_000], [sum_dw], len(s1.honest))
    assert abs(Fraction(w1) - (10_000 - Fraction(sum_dw, 4))) <= Fraction(1, 2)

    # money: supply fixed, escrow empty, penalties paid out, stakes tracked
    assert sum(bal.values()) == supply and min(bal.values()) >= 0
    assert bal[f"escrow:{G}"] == 0 and bal[pool_account(G)] == 0
    assert bal[stake_account(G)] == sum(dec.stakes.values()) == 6 * stake - 2 * d
    assert bal["p2"] == 1_000 - stake + s1.extra_pay["p2"]  # silent in T5: lost d of stake
    assert bal["p4"] == 1_000 - stake + s1.extra_pay["p4"] - d  # bad share: lost the deposit
    assert sum(bal[w] for w in WORKERS) == 90


def _pay(src, dst, amount):
    from deepchain.incentives import Transfer

    return [Transfer(src, dst, amount, "reward_funding", src)]
