"""Server-side optimizers in the protocol's fixed point, and FedProx in local training."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.packing import PLATFORM_PACKING
from deepchain.incentives.processing import fixed_point_mean
from deepchain.learning.baselines import run_federated
from deepchain.learning.data import Dataset, load_dataset, partition_dirichlet, train_test_split
from deepchain.learning.fixed_point import apply_aggregate, fixed_point_twin
from deepchain.learning.local import train_local
from deepchain.learning.models import PRESETS, initial_params
from deepchain.learning.strategies import (
    STRATEGIES,
    Strategy,
    StrategyError,
    apply_strategy,
    fixed_point_mean_vector,
    integer_sqrt,
    parse_spec,
    replay_models,
    replay_state,
    round_div,
    scale_bits_of,
    twin_aggregate,
)

SCHEME = PLATFORM_PACKING.scheme(2048, "paper_cnn")
S_BITS = scale_bits_of(SCHEME.scale)  # the packing scale 2^s
Q_MAX = 2**SCHEME.Q - 1  # |q| of one party's value


def _rounds(seed: int, length: int, n_rounds: int, n: int = 4) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_rounds):
        # updates shrinking over rounds like training's, some coordinates at the packing bound
        q = rng.normal(0, 3000, size=(n, length)).astype(np.int64)
        q[:, 0] = Q_MAX
        q[:, 1] = -Q_MAX
        out.append((q.sum(axis=0), n))
    return out


def _all_strategies() -> list[Strategy]:
    return [
        Strategy("fedavg"),
        Strategy("fedavgm", server_lr=0.7, beta1=0.6),
        Strategy("fedavgm", server_lr=4.0, beta1=0.99),  # the extremes of the ranges
        Strategy("fedadam", server_lr=0.01, beta1=0.9, beta2=0.99, tau=1e-3),
        Strategy("fedadam", server_lr=4.0, beta1=0.0, beta2=0.9999, tau=1e-4),
        Strategy("fedyogi", server_lr=0.03, beta1=0.5, beta2=0.9, tau=1e-2),
    ]


# -- exact arithmetic ------------------------------------------------------------------------
@given(st.integers(-(2**62), 2**62), st.integers(1, 2**40))
def test_round_div_is_the_exactly_rounded_quotient_ties_to_even(a, d):
    got = int(round_div(np.array([a]), d)[0])
    assert got == round(Fraction(a, d))  # Python rounds Fractions half to even


@given(st.integers(0, 2**53 - 1))
def test_integer_sqrt_is_the_exact_floor_square_root(v):
    import math

    assert int(integer_sqrt(np.array([v]))[0]) == math.isqrt(v)


def test_integer_sqrt_refuses_values_it_cannot_take_exactly():
    with pytest.raises(OverflowError):
        integer_sqrt(np.array([2**53]))


# -- FedAvg equivalence ----------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 16), st.integers(1, 64))
def test_momentum_zero_and_unit_lr_is_fedavg_bit_for_bit(seed, n, length):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, size=length).astype(np.float32)
    sums = rng.integers(-Q_MAX, Q_MAX + 1, size=(n, length)).sum(axis=0)
    expected = apply_aggregate(w, sums, n, SCHEME)
    for strat in (Strategy("fedavg"), Strategy("fedavgm", server_lr=1.0, beta1=0.0)):
        got, _ = apply_strategy(strat, w, sums, n, strat.initial_state(length, S_BITS), S_BITS)
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.int32), expected.view(np.int32))


def test_the_fedavg_twin_is_the_protocols_existing_fedavg():
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.1, size=50).astype(np.float32)
    twin = fixed_point_twin(SCHEME)
    for _ in range(3):
        ups = [rng.normal(0, 0.01, size=50).astype(np.float32) for _ in range(4)]
        sums = np.sum([SCHEME.quantize(u) for u in ups], axis=0)
        expected = apply_aggregate(w, sums, 4, SCHEME)
        w = twin(w, ups)
        assert np.array_equal(w, expected)


# -- determinism and state re-derivation -----------------------------------------------------
@pytest.mark.parametrize("strat", _all_strategies(), ids=lambda s: s.label())
def test_a_step_gives_the_same_bits_every_time(strat):
    aggs = _rounds(1, 200, 6)
    w0 = np.random.default_rng(2).normal(0, 0.05, size=200).astype(np.float32)
    a = replay_models(strat, w0, aggs, S_BITS)
    b = replay_models(strat, w0.copy(), [(s.copy(), n) for s, n in aggs], S_BITS)
    assert all(
        np.array_equal(x.view(np.int32), y.view(np.int32)) for x, y in zip(a, b, strict=True)
    )
    assert all(np.all(np.isfinite(x)) for x in a)


@pytest.mark.parametrize("strat", _all_strategies(), ids=lambda s: s.label())
def test_the_state_is_re_derived_from_the_published_aggregates_alone(strat):
    """Live (round by round, with W) and replayed (from the aggregates only) agree exactly;
    the state does not depend on W."""
    aggs = _rounds(4, 120, 5)
    w = np.random.default_rng(5).normal(0, 0.05, size=120).astype(np.float32)
    state = strat.initial_state(w.size, S_BITS)
    models = []
    for sums, n in aggs:
        w, state = apply_strategy(strat, w, sums, n, state, S_BITS)
        models.append(w)
    assert state.equals(replay_state(strat, w.size, aggs, S_BITS))
    assert state.round == len(aggs)
    w0 = np.random.default_rng(5).normal(0, 0.05, size=120).astype(np.float32)
    replayed = replay_models(strat, w0, aggs, S_BITS)
    assert all(np.array_equal(x, y) for x, y in zip(models, replayed, strict=True))
    # another W_0: same state, other models
    other = replay_models(strat, w0 + 1, aggs, S_BITS)
    assert not np.array_equal(other[-1], replayed[-1])


@pytest.mark.parametrize("strat", _all_strategies()[1:], ids=lambda s: s.label())
def test_a_changed_aggregate_changes_every_later_model(strat):
    aggs = _rounds(7, 60, 4)
    w0 = np.zeros(60, dtype=np.float32)
    honest = replay_models(strat, w0, aggs, S_BITS)
    forged = [(aggs[0][0] + 1000, aggs[0][1]), *aggs[1:]]
    bad = replay_models(strat, w0, forged, S_BITS)
    assert all(not np.array_equal(x, y) for x, y in zip(honest, bad, strict=True))


def test_a_round_without_a_result_leaves_model_and_state_unchanged():
    strat = Strategy("fedadam", server_lr=0.01)
    aggs = _rounds(8, 30, 3)
    w0 = np.zeros(30, dtype=np.float32)
    with_gap = replay_models(strat, w0, [aggs[0], None, aggs[1], aggs[2]], S_BITS)
    without = replay_models(strat, w0, aggs, S_BITS)
    assert np.array_equal(with_gap[1], with_gap[0])
    assert np.array_equal(with_gap[-1], without[-1])


# -- the fixed point follows the paper's float algorithm -------------------------------------
def _reddi_float(strat: Strategy, w0: np.ndarray, aggs) -> np.ndarray:
    """Reddi et al. Algorithm 2 (and FedAvgM) in float64, from the same fixed-point means and
    the hyper-parameters as the arithmetic uses them (on their grids)."""
    g = strat.on_grid(S_BITS)
    lr, b1, b2, tau = g["server_lr"], g["beta1"], g["beta2"], g["tau"]
    w = w0.astype(np.float64)
    m = np.zeros_like(w)
    v = np.full_like(w, tau**2)
    for sums, n in aggs:
        d = np.asarray(round_div(sums, n), dtype=np.float64) / 2**S_BITS
        if strat.name == "fedavgm":
            m = b1 * m + d
            w = w + lr * m
            continue
        m = b1 * m + (1 - b1) * d
        if strat.name == "fedadam":
            v = b2 * v + (1 - b2) * d * d
        else:
            v = v - (1 - b2) * d * d * np.sign(v - d * d)
        w = w + lr * m / (np.sqrt(v) + tau)
    return w


@pytest.mark.parametrize("strat", _all_strategies()[1:], ids=lambda s: s.label())
def test_the_fixed_point_optimizer_tracks_the_papers_float_algorithm(strat):
    """On their grids the hyper-parameters are exact; what is left is integer rounding."""
    aggs = _rounds(9, 300, 6)
    w0 = np.random.default_rng(1).normal(0, 0.05, size=300).astype(np.float32)
    fixed = replay_models(strat, w0, aggs, S_BITS)[-1].astype(np.float64)
    ref = _reddi_float(strat, w0, aggs)
    moved = np.abs(ref - w0).max()
    assert moved > 1e-3  # the optimizer did something
    # the documented bound: per round 2^-19 / tau (sqrt rounding) + 2^-16 (divisions)
    rel = len(aggs) * (2.0**-19 / strat.on_grid(S_BITS)["tau"] + 2.0**-16)
    assert np.abs(fixed - ref).max() <= rel * moved + 1e-6


def test_an_out_of_range_mean_update_is_refused_not_wrapped():
    strat = Strategy("fedadam")
    with pytest.raises(OverflowError):
        apply_strategy(
            strat, np.zeros(2, np.float32), np.array([2**40, 0]), 1,
            strat.initial_state(2, S_BITS), S_BITS,
        )  # fmt: skip
    strat = Strategy("fedavgm", server_lr=4.0, beta1=0.99)
    with pytest.raises(OverflowError):
        apply_strategy(
            strat, np.zeros(1, np.float32), np.array([2**46]), 1,
            strat.initial_state(1, S_BITS), S_BITS,
        )  # fmt: skip


# -- description and validation --------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(STRATEGIES),
    st.floats(2.0**-16, 4.0),
    st.floats(0.0, 0.99),
    st.floats(0.0, 0.9999),
    st.floats(1e-4, 1.0),
    st.floats(0.0, 10.0),
)
def test_the_recorded_strategy_round_trips_exactly(name, lr, b1, b2, tau, mu):
    strat = Strategy(name, 1.0 if name == "fedavg" else lr, b1, b2, tau, mu)
    import json

    back = Strategy.from_json(json.loads(json.dumps(strat.to_json())))
    assert back == strat


@pytest.mark.parametrize(
    "options, message",
    [
        ({"name": "scaffold"}, "unknown strategy"),
        ({"name": "fedadam", "server_lr": 0}, "server_lr"),
        ({"name": "fedadam", "server_lr": 5}, "server_lr"),
        ({"name": "fedavgm", "beta1": 1.0}, "beta1"),
        ({"name": "fedyogi", "beta2": 1.0}, "beta2"),
        ({"name": "fedadam", "tau": 0}, "tau"),
        ({"name": "fedavg", "mu": -0.1}, "mu"),
        ({"name": "fedavg", "mu": float("nan")}, "mu"),
        ({"name": "fedavg", "mu": "abc"}, "numbers"),
        ({"name": "fedavg", "server_lr": 0.5}, "no server learning rate"),
        ({"name": "fedavg", "gamma": 1}, "unknown strategy parameter"),
    ],
)
def test_it_refuses_an_invalid_strategy_with_a_clear_message(options, message):
    with pytest.raises(StrategyError, match=message):
        Strategy.from_options(**options)


def test_a_record_that_is_not_a_strategy_is_refused():
    good = Strategy("fedyogi").to_json()
    for bad in (None, [], {**good, "version": 2}, {**good, "tau": 0.001}, {**good, "name": 3}):
        with pytest.raises(StrategyError):
            Strategy.from_json(bad)


def test_a_cli_spec_parses_into_the_strategy():
    assert parse_spec("fedadam:server_lr=0.03, tau=0.01") == Strategy.from_options(
        "fedadam", server_lr=0.03, tau=0.01
    )
    assert parse_spec("fedavg:mu=0.1").mu == 0.1
    with pytest.raises(StrategyError):
        parse_spec("fedadam:server_lr")


# -- FedProx ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits() -> tuple[Dataset, Dataset]:
    return train_test_split(load_dataset("/nonexistent-mnist-dir"), 0.2, seed=0)


def test_fedprox_pulls_the_local_model_towards_the_global_one(digits):
    train, _ = digits
    cfg = PRESETS["test"]
    w = initial_params(cfg.model, 0)
    args = (cfg.model, w, train, 60, 0.2, 32, 1)
    plain = train_local(*args)
    zero = train_local(*args, prox_mu=0.0)
    prox = train_local(*args, prox_mu=5.0)
    assert np.array_equal(plain, zero)
    assert np.linalg.norm(prox) < 0.8 * np.linalg.norm(plain)


def test_a_federated_run_uses_the_strategy_and_refuses_a_server_optimizer_without_the_twin(
    digits,
):
    train, test = digits
    cfg = PRESETS["test"].with_(rounds=2)
    shares = partition_dirichlet(train, 3, 0.5, seed=0)
    adam = Strategy("fedadam", server_lr=0.01)
    with pytest.raises(StrategyError):
        run_federated(train, test, cfg, 3, parties=shares, strategy=adam)
    runs = {
        s.label(): run_federated(
            train,
            test,
            cfg,
            3,
            parties=shares,
            strategy=s,
            evaluate_parties=False,
            aggregate=fixed_point_twin(SCHEME, s),
        )  # fmt: skip
        for s in (Strategy(), adam, Strategy(mu=1.0))
    }
    finals = [r.final_params for r in runs.values()]
    assert not np.array_equal(finals[0], finals[1])
    assert not np.array_equal(finals[0], finals[2])
    # the twin's aggregation equals the strategy replayed from the quantized sums
    again = twin_aggregate(adam, SCHEME.quantize, S_BITS)
    assert callable(again)


@pytest.mark.parametrize("s_bits", [10, 16])
@pytest.mark.parametrize("strat", _all_strategies(), ids=lambda s: s.label())
def test_the_largest_valid_aggregates_never_overflow(strat, s_bits):
    """|Delta| just below 16 (the packing's range) in every round, for 400 rounds: the state
    saturates inside the int64 bounds the module documents."""
    top = 2 ** (s_bits + 4) - 1
    aggs = [(np.array([top, -top, top // 3]), 1)] * 400
    models = replay_models(strat, np.zeros(3, np.float32), aggs, s_bits)
    assert all(np.all(np.isfinite(w)) for w in models)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=20), st.integers(1, 50))
def test_the_vector_mean_rounds_every_sum_like_the_contracts_scalar_mean(sums, n):
    got = fixed_point_mean_vector(np.array(sums, dtype=np.int64), n)
    assert [int(x) for x in got] == [fixed_point_mean(s, n) for s in sums]
