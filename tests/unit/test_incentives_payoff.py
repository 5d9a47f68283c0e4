"""Payoff rules (paper Fig. 2): exact splits, monotone payoff, zero for zero contribution."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from deepchain.incentives.clock import Deadlines, LateError, Phase
from deepchain.incentives.contracts import (
    DecryptionContract,
    TradingContract,
)
from deepchain.incentives.money import Transfer, pool_account, stake_account, stake_transfers
from deepchain.incentives.payoff import (
    InsufficientFunds,
    apply_transfers,
    contribution_weights,
    payoff,
    reward_transfers,
    split_reward,
)
from deepchain.incentives.processing import fee_transfers

names = st.sampled_from(["a", "b", "c", "d", "e", "f"])
weight_maps = st.dictionaries(names, st.integers(0, 50), min_size=1, max_size=6)


def test_split_reward_is_exact_with_a_deterministic_tie_break():
    assert split_reward(10, {"b": 1, "a": 1, "c": 1}) == {"b": 3, "a": 4, "c": 3}
    assert split_reward(7, {"x": Fraction(1, 2), "y": Fraction(1, 2), "z": 0}) == {
        "x": 4, "y": 3, "z": 0
    }  # fmt: skip
    assert split_reward(0, {"a": 0}) == {"a": 0}
    with pytest.raises(ValueError):
        split_reward(5, {"a": 0, "b": 0})
    with pytest.raises(ValueError):
        split_reward(5, {"a": -1, "b": 2})


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), weight_maps)
def test_split_reward_sums_to_the_total_and_stays_within_one_unit_of_the_quota(total, w):
    if sum(w.values()) == 0:
        return
    out = split_reward(total, w)
    assert sum(out.values()) == total and set(out) == set(w)
    W = sum(w.values())
    for p, x in w.items():
        assert abs(out[p] - Fraction(total * x, W)) < 1
        if x == 0:
            assert out[p] == 0
    assert split_reward(total, dict(reversed(list(w.items())))) == out  # order independent


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 500), weight_maps, names, st.integers(1, 40))
def test_more_weight_never_means_a_smaller_share(total, w, p, extra):
    if sum(w.values()) == 0:
        return
    w2 = dict(w)
    w2[p] = w2.get(p, 0) + extra
    assert split_reward(total, w2)[p] >= split_reward(total, w).get(p, 0)


def test_contribution_weights_are_updates_times_data_size():
    w = contribution_weights({"a": 2, "b": 1, "c": 0}, {"a": 100, "b": 200, "c": 500, "d": 9})
    assert w == {"a": Fraction(1, 2), "b": Fraction(1, 2), "c": 0, "d": 0}
    assert contribution_weights({"a": 0}, {"a": 0}) == {"a": 0}


def test_nobody_gains_if_either_side_contributes_nothing():
    base = dict(deposit=10, honest=["a", "b"], penalised=[], reward=1_000)
    no_workers = payoff(**base, contributions={"a": 1, "b": 1}, worker_blocks={"w": 0})
    assert no_workers.parties == {"a": 0, "b": 0} and no_workers.workers == {"w": 0}
    assert no_workers.retained == 1_000
    no_parties = payoff(**base, contributions={"a": 0, "b": 0}, worker_blocks={"w": 3})
    assert no_parties.parties == {"a": 0, "b": 0} and no_parties.workers == {"w": 0}
    both = payoff(**base, contributions={"a": 1, "b": 3}, worker_blocks={"w": 3})
    assert both.workers == {"w": 200} and both.parties == {"a": 200, "b": 600}
    assert both.retained == 0


def test_a_cheater_loses_its_deposit_to_the_contributors():
    r = payoff(
        deposit=30, honest=["a", "b"], penalised=["c"], contributions={"a": 1, "b": 2, "c": 9},
        worker_blocks={"w1": 1, "w2": 1}, reward=100,
    )  # fmt: skip
    assert r.forfeits == {"c": 30} and r.compensation == {"a": 10, "b": 20}
    assert r.parties == {"a": 10 + 27, "b": 20 + 53, "c": -30}
    assert sum(r.parties.values()) + sum(r.workers.values()) + r.retained == 100


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(names, st.integers(0, 30), min_size=1, max_size=6),
    st.lists(names, max_size=3),
    st.integers(0, 100),
    st.integers(0, 5_000),
    st.integers(0, 5),
    names,
    st.integers(1, 20),
)
def test_payoff_is_monotone_in_contribution_and_zero_for_zero_contribution(
    contrib, cheaters, d, reward, blocks, p, extra
):
    cheaters = [c for c in cheaters if c != p]
    honest = [x for x in {**contrib, p: 0} if x not in cheaters]
    kw = dict(deposit=d, honest=honest, penalised=cheaters, reward=reward)
    wb = {"w1": blocks, "w2": 1}
    low = payoff(**kw, contributions={**contrib, p: contrib.get(p, 0)}, worker_blocks=wb)
    high = payoff(**kw, contributions={**contrib, p: contrib.get(p, 0) + extra}, worker_blocks=wb)
    assert high.parties[p] >= low.parties[p]
    zero = payoff(**kw, contributions={**contrib, p: 0}, worker_blocks=wb)
    assert zero.parties[p] == 0
    for r in (low, high, zero):  # conservation: what is paid out came from reward + forfeits
        total_in = reward + d * len(set(cheaters))
        paid = sum(v for v in r.parties.values() if v > 0) + sum(r.workers.values())
        assert paid + r.retained == total_in
    ts = reward_transfers("g", high)
    assert sum(t.amount for t in ts) == sum(high.reward_parties.values()) + sum(
        high.reward_workers.values()
    )


def test_payoff_compensation_matches_the_contract_settlement():
    sched = Deadlines.uniform(1_000).schedule(0, group="g")
    c = TradingContract("g", ["a", "b", "c"], 30, sched)
    c.submit_gradient("a", 1, True)
    c.submit_gradient("b", 1, True)
    c.submit_gradient("c", 1, False)
    w = contribution_weights({"a": 1, "b": 1}, {"a": 100, "b": 250})
    s = c.close(sched.deadline(Phase.T1) + 1, weights=w)
    r = payoff(deposit=30, honest=s.honest, penalised=s.penalised, contributions=w,
               worker_blocks={})  # fmt: skip
    assert r.compensation == s.extra_pay


def test_apply_transfers_preserves_the_total_and_refuses_overdrafts():
    t = [Transfer("a", "b", 5, "x"), Transfer("b", "c", 7, "y")]
    assert apply_transfers({"a": 5, "b": 2}, t) == {"a": 0, "b": 0, "c": 7}
    with pytest.raises(InsufficientFunds):
        apply_transfers({"a": 5, "b": 1}, t)


# --- stateful: deposits, penalties, paybacks, extra pay, fees in any order of rounds ---------


class Economy(RuleBasedStateMachine):
    """Random rounds of random behaviour: supply is fixed and no balance goes negative."""

    PARTIES = ("p1", "p2", "p3", "p4")
    WORKERS = ("w1", "w2")

    @initialize(stake=st.integers(0, 60))
    def genesis(self, stake):
        self.bal = {p: 500 for p in self.PARTIES} | {w: 0 for w in self.WORKERS}
        self.supply = sum(self.bal.values())
        self.log: list[Transfer] = []
        self.apply(stake_transfers("g", self.PARTIES, stake))
        self.stakes = {p: stake for p in self.PARTIES}
        self.contract = None
        self.t = 0

    def apply(self, transfers):
        transfers = list(transfers)
        self.bal = apply_transfers(self.bal, transfers)
        self.log += transfers

    @precondition(lambda self: self.contract is None)
    @rule(d=st.integers(0, 80), decryption=st.booleans())
    def open_phase(self, d, decryption):
        self.t += 1_000_000
        sched = Deadlines.uniform(10_000).schedule(self.t, group="g")
        if decryption:
            for p in (Phase.T1, Phase.T2, Phase.T3, Phase.T7, Phase.T8, Phase.T9, Phase.T4):
                sched = sched.close_phase(p, sched.deadline(p))
            self.contract = DecryptionContract("g", self.PARTIES, d, sched, threshold=2,
                                               stakes=self.stakes)  # fmt: skip
            self.submit, self.phase = self.contract.submit_share, Phase.T5
        else:
            self.contract = TradingContract("g", self.PARTIES, d, sched, stakes=self.stakes)
            self.submit, self.phase = self.contract.submit_gradient, Phase.T1

    @precondition(lambda self: self.contract is not None)
    @rule(p=st.sampled_from(PARTIES), ok=st.booleans(), late=st.booleans())
    def send(self, p, ok, late):
        c = self.contract
        if p in c.submissions or p in c.late:
            return
        if late:
            try:
                self.submit(p, c.schedule.deadline(self.phase) + 1_000, ok)
            except LateError:
                return
            raise AssertionError("a late message was accepted")
        if self.bal[p] < c.deposit:
            return  # cannot afford the deposit: it stays absent
        self.apply(self.submit(p, c.schedule.opens_at(self.phase), ok).transfers)

    @precondition(lambda self: self.contract is not None)
    @rule(carry=st.booleans())
    def close(self, carry):
        c = self.contract
        pool = self.bal.get(pool_account("g"), 0) if carry else 0
        s = c.close(c.schedule.deadline(self.phase) + 1, pool_carry=pool)
        self.apply(s.transfers)
        assert c.close(c.schedule.deadline(self.phase) + 2).transfers == ()
        self.stakes = dict(c.stakes)
        self.contract = None

    @rule(fee=st.integers(0, 10))
    def pay_workers(self, fee):
        have = self.bal.get(pool_account("g"), 0)
        if fee * len(self.WORKERS) <= have:
            self.apply(fee_transfers(self.WORKERS, 1, fee, pool_account("g")))

    @invariant()
    def supply_is_fixed_and_nothing_is_negative(self):
        assert sum(self.bal.values()) == self.supply
        assert all(v >= 0 for v in self.bal.values())
        assert all(t.amount > 0 and t.reason for t in self.log)
        if self.contract is None:
            assert self.bal.get("escrow:g", 0) == 0
        assert self.bal.get(stake_account("g"), 0) == sum(self.stakes.values()) or (
            self.contract is not None
        )


TestEconomy = Economy.TestCase
TestEconomy.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
