"""The collaborative-training comparison (paper section 5.2): federated vs centralized vs each
party alone (the runs are in ``deepchain.learning.baselines``) on one held-out split, over
seeds and strategies, against the targets (within 0.5 points of centralized, >= 2 points
above a party alone).

CLI: ``python -m deepchain.learning.experiment --parties 4 --preset paper``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepchain.learning.baselines import (
    Aggregate,
    ExperimentResult,
    Quantize,
    RoundRecord,
    fixed_point_round_trip,
    initial_params,
    make_parties,
    run_centralized,
    run_federated,
    run_single,
)
from deepchain.learning.data import (
    Dataset,
    label_skew,
    load_dataset,
    train_test_split,
)
from deepchain.learning.models import PRESETS, TrainingConfig, configure_torch_threads
from deepchain.learning.strategies import Strategy, StrategyError, parse_spec

#: the collaborative-training targets, in accuracy points (fractions).
TARGET_GAP_TO_CENTRALIZED = 0.005
TARGET_GAIN_OVER_SINGLE = 0.02


def meets_targets(gap_to_centralized: float, gain_over_single: float) -> bool:
    """The targets: within 0.5 points of centralized and >= 2 points above a party alone
    (both as fractions of accuracy)."""
    return (
        gap_to_centralized <= TARGET_GAP_TO_CENTRALIZED
        and gain_over_single >= TARGET_GAIN_OVER_SINGLE
    )


@dataclass
class Comparison:
    """Federated vs centralized vs single party(ies) alone on one held-out split."""

    federated: ExperimentResult
    centralized: ExperimentResult
    singles: list[ExperimentResult]
    source: str
    n_parties: int
    centralized_group: ExperimentResult | None = None

    @property
    def single_accuracy(self) -> float:
        """Mean final accuracy of the single-party baselines."""
        return float(np.mean([s.final_accuracy for s in self.singles]))

    @property
    def gap_to_centralized(self) -> float:
        """centralized - federated (positive when federated is worse)."""
        return self.centralized.final_accuracy - self.federated.final_accuracy

    @property
    def gain_over_single(self) -> float:
        return self.federated.final_accuracy - self.single_accuracy

    def meets_targets(self) -> bool:
        """Within 0.5 points of centralized and >= 2 points above a party alone."""
        return meets_targets(self.gap_to_centralized, self.gain_over_single)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_parties": self.n_parties,
            "federated": self.federated.to_dict(),
            "centralized": self.centralized.to_dict(),
            "singles": [s.to_dict() for s in self.singles],
            "centralized_group": (
                self.centralized_group.to_dict() if self.centralized_group else None
            ),
            "single_accuracy": self.single_accuracy,
            "gap_to_centralized": self.gap_to_centralized,
            "gain_over_single": self.gain_over_single,
            "meets_targets": self.meets_targets(),
        }


def run_comparison(
    n_parties: int,
    config: TrainingConfig,
    seed: int = 0,
    data: Dataset | None = None,
    partition: str = "iid",
    alpha: float = 0.5,
    n_singles: int = 1,
    quantize: Quantize | None = None,
    log: Callable[[str], None] | None = None,
    group_budget_centralized: bool = False,
    aggregate: Aggregate | None = None,
    strategy: Strategy | None = None,
) -> Comparison:
    """Split ``data`` (default :func:`load_dataset`) into pool/test, partition the pool, and run
    federated, centralized and ``n_singles`` single-party baselines from the same W_0
    (plus, if ``group_budget_centralized``, centralized with the whole group's step budget)."""
    strat = strategy or Strategy()
    out = run_comparisons(
        n_parties, config, [strat], seed=seed, data=data, partition=partition, alpha=alpha,
        n_singles=n_singles, quantize=quantize, log=log,
        group_budget_centralized=group_budget_centralized,
        make_aggregate=None if aggregate is None else (lambda _s: aggregate),
    )  # fmt: skip
    return out[strat.label()]


def run_comparisons(
    n_parties: int,
    config: TrainingConfig,
    strategies: Sequence[Strategy],
    seed: int = 0,
    data: Dataset | None = None,
    partition: str = "iid",
    alpha: float = 0.5,
    n_singles: int = 1,
    quantize: Quantize | None = None,
    log: Callable[[str], None] | None = None,
    group_budget_centralized: bool = False,
    make_aggregate: Callable[[Strategy], Aggregate] | None = None,
    evaluate_parties: bool = True,
    on_comparison: Callable[[str, Comparison], None] | None = None,
) -> dict[str, Comparison]:
    """:func:`run_comparison` for several strategies on the same split, partition and W_0: the
    centralized and single-party baselines once, then one federated run per strategy
    (``make_aggregate(strategy)`` gives its aggregation, a fresh one per run), each handed to
    ``on_comparison(label, comparison)`` as soon as it finishes. Keyed by strategy label."""
    ds = load_dataset() if data is None else data
    train, test = train_test_split(ds, config.test_fraction, seed)
    shares = make_parties(train, n_parties, partition, alpha, seed)
    w0 = initial_params(config, seed)
    say = log or (lambda _msg: None)
    say(
        f"data: {ds.source}; pool {len(train)}, test {len(test)}; {n_parties} parties "
        f"({partition}, sizes {[len(s) for s in shares]}, label skew {label_skew(shares):.3f})"
    )

    def show(rec: RoundRecord) -> None:
        pa = rec.party_accuracy
        parties = f"; parties {min(pa):.4f}-{max(pa):.4f}" if pa else ""
        say(
            f"  round {rec.round:3d} (it {rec.iteration:5d}): global acc {rec.accuracy:.4f} "
            f"loss {rec.loss:.4f}{parties}; max|dW| {rec.max_abs_update:.3f}; {rec.seconds:.1f}s"
        )

    cen = run_centralized(train, test, config, seed=seed, w0=w0)
    say(f"centralized: {cen.final_accuracy:.4f} ({cen.wall_seconds:.1f}s)")
    cen_group = None
    if group_budget_centralized:
        cen_group = run_centralized(train, test, config, seed=seed, w0=w0, budget_parties=n_parties)
        say(
            f"centralized with the group's budget ({n_parties} x {config.total_iterations} steps): "
            f"{cen_group.final_accuracy:.4f} ({cen_group.wall_seconds:.1f}s)"
        )
    singles = []
    for j in range(min(n_singles, n_parties)):
        s = run_single(shares[j], test, config, seed=seed, w0=w0)
        s.name = f"single-party-{j}"
        singles.append(s)
        say(f"party {j} alone ({len(shares[j])} samples): {s.final_accuracy:.4f}")
    out: dict[str, Comparison] = {}
    for strat in strategies:
        agg = make_aggregate(strat) if make_aggregate is not None else None
        fed = run_federated(
            train, test, config, n_parties, parties=shares, partition=partition, alpha=alpha,
            quantize=quantize, aggregate=agg, seed=seed, w0=w0, on_round=show, strategy=strat,
            evaluate_parties=evaluate_parties,
        )  # fmt: skip
        say(f"federated {strat.label()}: {fed.final_accuracy:.4f} ({fed.wall_seconds:.1f}s)")
        out[strat.label()] = Comparison(fed, cen, singles, ds.source, n_parties, cen_group)
        if on_comparison is not None:
            on_comparison(strat.label(), out[strat.label()])
    return out


def exact_twin(config: TrainingConfig) -> Callable[[Strategy], Aggregate]:
    """``make_aggregate`` for :func:`run_comparisons` that aggregates exactly as the encrypted
    protocol does (the platform's packing quantization, fixed-point 1/N mean and the
    strategy's fixed-point server optimizer): the values threshold decryption yields."""
    from deepchain.crypto.packing import PLATFORM_PACKING  # the protocol's arithmetic
    from deepchain.learning.fixed_point import fixed_point_twin

    scheme = PLATFORM_PACKING.scheme(2048, config.model)
    return lambda st: fixed_point_twin(scheme, st)


def strategy_gains(runs: Sequence[Comparison], baseline: Sequence[Comparison]) -> dict[str, Any]:
    """Per seed, final accuracy of ``runs`` minus that of ``baseline`` (FedAvg), same seeds."""
    diffs = [
        c.federated.final_accuracy - b.federated.final_accuracy
        for c, b in zip(runs, baseline, strict=True)
    ]
    return {
        "diffs": diffs,
        "mean": float(np.mean(diffs)),
        "wins": sum(d > 0 for d in diffs),
        "beats_on_every_seed": all(d > 0 for d in diffs),
    }


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError("give one or more distinct seeds, e.g. 0,1,2")
    return seeds


def seed_summary(runs: Sequence[Comparison]) -> dict[str, Any]:
    """Gap to centralized and gain over one party alone across runs with different seeds."""
    gaps = np.array([c.gap_to_centralized for c in runs])
    gains = np.array([c.gain_over_single for c in runs])
    return {
        "runs": len(runs),
        "gap_mean": float(gaps.mean()),
        "gap_std": float(gaps.std(ddof=1)) if len(runs) > 1 else 0.0,
        "gap_max": float(gaps.max()),
        "gain_mean": float(gains.mean()),
        "gain_std": float(gains.std(ddof=1)) if len(runs) > 1 else 0.0,
        "gain_min": float(gains.min()),
        "targets_met": sum(c.meets_targets() for c in runs),
        "mean_meets_targets": meets_targets(float(gaps.mean()), float(gains.mean())),
    }


def strategy_arg(text: str) -> Strategy:
    """argparse type of a strategy spec (``strategies.parse_spec``), e.g. ``fedadam:lr=0.01``."""
    try:
        return parse_spec(text)
    except StrategyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m deepchain.learning.experiment",
        description="Plaintext FedAvg vs centralized vs single-party baselines on MNIST.",
    )
    p.add_argument("--parties", type=int, default=4)
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--partition", choices=["iid", "dirichlet"], default="iid")
    p.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        type=_seed_list,
        default=None,
        help="comma-separated seeds (e.g. 0,1,2,3,4): one run each (split, partition, init, "
        "minibatches), then the mean and spread of the gap and the gain",
    )
    p.add_argument("--data-dir", default=None, help="MNIST IDX directory (else env/default)")
    p.add_argument("--singles", type=int, default=1, help="how many parties to train alone")
    p.add_argument(
        "--group-budget-centralized",
        action="store_true",
        help="also train centralized for N x the per-party steps (the group's total compute)",
    )
    p.add_argument("--model", default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--local-iterations", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr-decay", type=float, default=None, help="lr multiplier per round")
    p.add_argument(
        "--quantize-bits",
        type=int,
        default=None,
        help="apply the fixed-point round trip (scale 2^BITS, |q| < 2^16) to each update",
    )
    p.add_argument(
        "--exact-twin",
        action="store_true",
        help="aggregate exactly as the encrypted protocol does (the party agent's packing "
        "quantization and fixed-point 1/N mean): the values threshold decryption yields",
    )
    p.add_argument(
        "--strategy",
        action="append",
        type=strategy_arg,
        default=None,
        metavar="NAME[:KEY=VALUE,...]",
        help="aggregation strategy, repeatable (one federated run each, shared baselines): "
        "fedavg, fedavgm, fedadam, fedyogi; keys server_lr, beta1, beta2, tau and mu (FedProx, "
        "any strategy), e.g. fedadam:server_lr=0.01 or fedavg:mu=0.01. Server optimizers need "
        "--exact-twin (they run in the protocol's fixed point). Default fedavg",
    )
    p.add_argument(
        "--skip-party-eval",
        action="store_true",
        help="do not evaluate each party's local model every round (faster; global metrics "
        "are unchanged)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    p.add_argument("--json", default=None, help="write the full result as JSON to this path")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    configure_torch_threads(args.threads)
    overrides = {
        k: v
        for k, v in {
            "model": args.model,
            "rounds": args.rounds,
            "local_iterations": args.local_iterations,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "lr_decay": args.lr_decay,
        }.items()
        if v is not None
    }
    config = PRESETS[args.preset].with_(**overrides)
    print(f"preset {args.preset}: {config.as_dict()}")
    data = load_dataset(args.data_dir)
    quantize = (
        fixed_point_round_trip(args.quantize_bits) if args.quantize_bits is not None else None
    )
    strategies: list[Strategy] = args.strategy or [Strategy()]
    labels = [st.label() for st in strategies]
    if len(set(labels)) != len(labels):
        print("each --strategy must differ", file=sys.stderr)
        return 2
    make_aggregate = None
    if args.exact_twin:
        make_aggregate = exact_twin(config)
    elif any(st.stateful for st in strategies):
        print("server optimizers run in the protocol's fixed point: add --exact-twin",
              file=sys.stderr)  # fmt: skip
        return 2
    runs: dict[str, list[Comparison]] = {label: [] for label in labels}
    for seed in args.seeds or [args.seed]:
        t0 = time.perf_counter()
        if args.seeds:
            print(f"== seed {seed}")
        by = run_comparisons(
            args.parties,
            config,
            strategies,
            seed=seed,
            data=data,
            partition=args.partition,
            alpha=args.alpha,
            n_singles=args.singles,
            group_budget_centralized=args.group_budget_centralized,
            quantize=quantize,
            make_aggregate=make_aggregate,
            evaluate_parties=not args.skip_party_eval,
            log=lambda m: print(m, flush=True),
        )
        for label, cmp_ in by.items():
            fed = cmp_.federated
            print(
                f"{label}: federated {fed.final_accuracy:.4f} ({fed.wall_seconds:.1f}s), "
                f"centralized {cmp_.centralized.final_accuracy:.4f} "
                f"({cmp_.centralized.wall_seconds:.1f}s), single alone "
                f"{cmp_.single_accuracy:.4f}; gap to centralized "
                f"{100 * cmp_.gap_to_centralized:+.2f} pts (target <= 0.50), gain over single "
                f"{100 * cmp_.gain_over_single:+.2f} pts (target >= 2.00): "
                f"{'TARGETS MET' if cmp_.meets_targets() else 'targets NOT met'}",
                flush=True,
            )
            runs[label].append(cmp_)
        print(f"seed {seed}: total {time.perf_counter() - t0:.1f}s", flush=True)
    first = labels[0]
    out: dict[str, Any] = runs[first][0].to_dict()
    if args.seeds:
        out = {
            "seeds": args.seeds,
            "parties": args.parties,
            "partition": args.partition,
            "alpha": args.alpha,
            "strategies": labels,
            "summary": seed_summary(runs[first]),
            "runs": [c.to_dict() for c in runs[first]],
            "by_strategy": {},
        }
        for label in labels:
            summ = seed_summary(runs[label])
            entry: dict[str, Any] = {
                "summary": summ,
                "runs": [c.to_dict() for c in runs[label]],
            }
            if "fedavg" in runs and label != "fedavg":
                entry["vs_fedavg"] = strategy_gains(runs[label], runs["fedavg"])
            out["by_strategy"][label] = entry
            vs = entry.get("vs_fedavg")
            print(
                f"{label} over {len(runs[label])} seeds ({args.parties} parties, "
                f"{args.partition}): gap to centralized {100 * summ['gap_mean']:+.2f} +- "
                f"{100 * summ['gap_std']:.2f} pts (worst {100 * summ['gap_max']:+.2f}), gain "
                f"over single {100 * summ['gain_mean']:+.2f} +- {100 * summ['gain_std']:.2f} "
                f"pts (worst {100 * summ['gain_min']:+.2f}); targets met in "
                f"{summ['targets_met']}/{len(runs[label])} seeds"
                + (
                    f"; vs fedavg {100 * vs['mean']:+.2f} pts, better on {vs['wins']}/"
                    f"{len(vs['diffs'])} seeds"
                    if vs
                    else ""
                )
            )
    elif len(labels) > 1:
        out = {"strategies": labels, "by_strategy": {k: v[0].to_dict() for k, v in runs.items()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
