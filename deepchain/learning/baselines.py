"""Plaintext baselines the encrypted DeepChain runs are compared with (paper section 5.2).

* :func:`run_centralized`: one model trained on all the pooled data;
* :func:`run_single`: one party trained alone on its own share;
* :func:`run_federated`: N parties, R rounds of K local iterations, W_i = W_{i-1} + mean_j dW_ij,
  optionally with the crypto layer's quantize/dequantize round trip (``quantize``) and its
  fixed-point aggregation (``aggregate``), so the encrypted run can be matched seed for seed.

Every run is evaluated on the same held-out test split after each block of K iterations ("round"),
so the three curves share an x-axis (iterations per party). ``deepchain.learning.experiment``
compares them (and is the CLI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from deepchain.learning.data import (
    Dataset,
    partition_dirichlet,
    partition_iid,
)
from deepchain.learning.local import evaluate, fedavg_step, train_local
from deepchain.learning.models import TrainingConfig
from deepchain.learning.models import initial_params as _initial_params
from deepchain.learning.strategies import Strategy, StrategyError

Quantize = Callable[[np.ndarray], np.ndarray]
Aggregate = Callable[[np.ndarray, list[np.ndarray]], np.ndarray]


def fixed_point_round_trip(scale_bits: int = 12, q_bits: int = 16) -> Quantize:
    """The plaintext twin of the crypto layer's quantization (docs/PROTOCOL.md, section 9):
    q = round(dW * 2^scale_bits) clipped to |q| < 2^q_bits, returned dequantized (q / 2^scale).

    Measured with the paper preset (4 parties, seed 0): final accuracy 0.9740 unquantized,
    0.9730 at 2^12, 0.9735 at 2^14. Update coordinates are small (round 1: median 1e-3,
    max 0.65; later rounds max < 0.2), so 2^14 with |dW| < 4 loses less than 2^12."""
    scale = float(2**scale_bits)
    bound = float(2**q_bits - 1)

    def quantize(dw: np.ndarray) -> np.ndarray:
        q = np.clip(np.rint(np.asarray(dw, dtype=np.float64) * scale), -bound, bound)
        return (q / scale).astype(np.float32)

    return quantize


def local_seed(seed: int, round_index: int, party: int) -> int:
    """Seed of party ``party``'s minibatch order in round ``round_index`` (1-based) of a run
    seeded ``seed``; the encrypted protocol uses the same function to match plaintext runs."""
    return int(np.random.SeedSequence([seed, round_index, party]).generate_state(1)[0])


def initial_params(config: TrainingConfig, seed: int) -> np.ndarray:
    """W_0 for a run (model of ``config``, init seeded by ``seed``)."""
    return _initial_params(config.model, seed)


@dataclass
class RoundRecord:
    """Metrics after round ``round`` (= ``iteration`` local SGD steps per party so far)."""

    round: int
    iteration: int
    accuracy: float
    loss: float
    party_accuracy: list[float] = field(default_factory=list)
    party_loss: list[float] = field(default_factory=list)
    max_abs_update: float = 0.0
    seconds: float = 0.0


@dataclass
class ExperimentResult:
    """Per-round test accuracy/loss (global and, for federated runs, per party's local model)."""

    name: str
    config: dict[str, Any]
    n_parties: int
    source: str
    train_sizes: list[int]
    test_size: int
    rounds: list[RoundRecord] = field(default_factory=list)
    initial_accuracy: float = 0.0
    wall_seconds: float = 0.0
    final_params: np.ndarray | None = field(default=None, repr=False)

    @property
    def final_accuracy(self) -> float:
        return self.rounds[-1].accuracy if self.rounds else self.initial_accuracy

    @property
    def final_loss(self) -> float:
        return self.rounds[-1].loss if self.rounds else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("final_params")
        d["final_accuracy"] = self.final_accuracy
        return d


def _train_alone(
    name: str,
    data: Dataset,
    test: Dataset,
    config: TrainingConfig,
    seed: int,
    w0: np.ndarray | None,
) -> ExperimentResult:
    t0 = time.perf_counter()
    w = initial_params(config, seed) if w0 is None else np.array(w0, dtype=np.float32)
    res = ExperimentResult(
        name=name,
        config=config.as_dict(),
        n_parties=1,
        source=data.source,
        train_sizes=[len(data)],
        test_size=len(test),
        initial_accuracy=evaluate(config.model, w, test)[0],
    )
    for r in range(1, config.rounds + 1):
        t = time.perf_counter()
        dw = train_local(
            config.model,
            w,
            data,
            config.local_iterations,
            config.lr_at(r),
            config.batch_size,
            local_seed(seed, r, 0),
            momentum=config.momentum,
        )
        w = (w + dw).astype(np.float32)
        acc, loss = evaluate(config.model, w, test)
        res.rounds.append(
            RoundRecord(
                round=r,
                iteration=r * config.local_iterations,
                accuracy=acc,
                loss=loss,
                max_abs_update=float(np.abs(dw).max()),
                seconds=time.perf_counter() - t,
            )
        )
    res.final_params = w
    res.wall_seconds = time.perf_counter() - t0
    return res


def run_centralized(
    train: Dataset,
    test: Dataset,
    config: TrainingConfig,
    seed: int = 0,
    w0: np.ndarray | None = None,
    budget_parties: int = 1,
) -> ExperimentResult:
    """All pooled data in one place, same lr and batch.

    ``budget_parties=1`` (default): ``config.total_iterations`` SGD steps, as many as each party
    runs. ``budget_parties=N``: N times as many steps (in N times as many evaluation blocks of
    ``local_iterations``), i.e. the same number of gradient computations as the whole group of N
    parties together: the stronger baseline.
    """
    if budget_parties < 1:
        raise ValueError("budget_parties must be >= 1")
    cfg = config.with_(rounds=config.rounds * budget_parties)
    name = "centralized" if budget_parties == 1 else f"centralized-x{budget_parties}"
    return _train_alone(name, train, test, cfg, seed, w0)


def run_single(
    data: Dataset,
    test: Dataset,
    config: TrainingConfig,
    seed: int = 0,
    w0: np.ndarray | None = None,
) -> ExperimentResult:
    """One party alone on its own share, with the same iteration budget as in the group."""
    return _train_alone("single", data, test, config, seed, w0)


def make_parties(
    train: Dataset, n_parties: int, partition: str = "iid", alpha: float = 0.5, seed: int = 0
) -> list[Dataset]:
    """Split the training pool among the parties: ``"iid"`` or ``"dirichlet"`` (label skew)."""
    if partition == "iid":
        return partition_iid(train, n_parties, seed)
    if partition == "dirichlet":
        return partition_dirichlet(train, n_parties, alpha, seed)
    raise ValueError(f"unknown partition {partition!r} (iid or dirichlet)")


def run_federated(
    train: Dataset,
    test: Dataset,
    config: TrainingConfig,
    n_parties: int,
    rounds: int | None = None,
    local_iterations: int | None = None,
    partition: str = "iid",
    alpha: float = 0.5,
    quantize: Quantize | None = None,
    aggregate: Aggregate | None = None,
    seed: int = 0,
    parties: Sequence[Dataset] | None = None,
    w0: np.ndarray | None = None,
    evaluate_parties: bool = True,
    on_round: Callable[[RoundRecord], None] | None = None,
    strategy: Strategy | None = None,
) -> ExperimentResult:
    """Plaintext federated averaging, the computation DeepChain performs under encryption.

    Round i: each party j trains K local iterations from W_{i-1} (seed ``local_seed(seed,i,j)``),
    its update is clipped to +-``config.update_clip``, passed through ``quantize`` (the crypto
    layer's quantize/dequantize round trip) and the group applies
    ``aggregate(W_{i-1}, updates)`` (default :func:`fedavg_step`, W + mean dW).
    ``strategy`` supplies FedProx's mu to local training (its server optimizer is applied by
    ``aggregate``: pass :func:`deepchain.learning.fixed_point.fixed_point_twin` of the same
    strategy; a
    stateful strategy without ``aggregate`` is refused, its arithmetic is the protocol's).
    ``parties`` overrides the partition of ``train``. Per-party metrics are the test accuracy
    of each party's local model W_{i-1} + dW_ij before aggregation; ``on_round`` is called
    with each round's record as soon as it is complete.
    """
    t0 = time.perf_counter()
    strat = strategy or Strategy()
    if strat.stateful and aggregate is None:
        raise StrategyError(f"{strat.name} runs in the protocol's fixed point: pass aggregate")
    rounds = config.rounds if rounds is None else rounds
    k = config.local_iterations if local_iterations is None else local_iterations
    cfg = config.with_(rounds=rounds, local_iterations=k)
    shares = (
        list(parties)
        if parties is not None
        else make_parties(train, n_parties, partition, alpha, seed)
    )
    if len(shares) != n_parties:
        raise ValueError(f"{len(shares)} party datasets for n_parties={n_parties}")
    w = initial_params(cfg, seed) if w0 is None else np.array(w0, dtype=np.float32)
    res = ExperimentResult(
        name=f"federated-{partition}",
        config=cfg.as_dict()
        | {
            "partition": partition,
            "alpha": alpha,
            "quantized": quantize is not None,
            "strategy": strat.label(),
        },
        n_parties=n_parties,
        source=train.source,
        train_sizes=[len(s) for s in shares],
        test_size=len(test),
        initial_accuracy=evaluate(cfg.model, w, test)[0],
    )
    agg = aggregate or fedavg_step
    for r in range(1, rounds + 1):
        t = time.perf_counter()
        updates: list[np.ndarray] = []
        p_acc: list[float] = []
        p_loss: list[float] = []
        max_abs = 0.0
        for j, share in enumerate(shares):
            dw = train_local(
                cfg.model,
                w,
                share,
                k,
                cfg.lr_at(r),
                cfg.batch_size,
                local_seed(seed, r, j),
                momentum=cfg.momentum,
                update_clip=cfg.update_clip,
                prox_mu=strat.mu,
            )
            max_abs = max(max_abs, float(np.abs(dw).max()))
            if evaluate_parties:
                a, lo = evaluate(cfg.model, w + dw, test)
                p_acc.append(a)
                p_loss.append(lo)
            updates.append(quantize(dw) if quantize is not None else dw)
        w = np.asarray(agg(w, updates), dtype=np.float32)
        acc, loss = evaluate(cfg.model, w, test)
        res.rounds.append(
            RoundRecord(
                round=r,
                iteration=r * k,
                accuracy=acc,
                loss=loss,
                party_accuracy=p_acc,
                party_loss=p_loss,
                max_abs_update=max_abs,
                seconds=time.perf_counter() - t,
            )
        )
        if on_round is not None:
            on_round(res.rounds[-1])
    res.final_params = w
    res.wall_seconds = time.perf_counter() - t0
    return res
