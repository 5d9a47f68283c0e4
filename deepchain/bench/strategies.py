"""Collaborative accuracy under label skew: FedAvg vs FedProx and the server optimizers.

    python -m deepchain.bench strategies [--seeds 0,1,2,3,4] [--alphas 0.5,0.1] [--parties 4,10]
        [--strategy SPEC ...] [--preset paper] [--scan] [--render-only] [--out docs/results]

Runs the grid Dirichlet alpha x number of parties x seed x strategy with the experiment
module's comparison (:func:`deepchain.learning.experiment.run_comparisons`: federated vs
centralized vs one party alone from the same split, partition and W_0), always with the
encrypted path's exact fixed-point arithmetic (:func:`~deepchain.learning.experiment.exact_twin`,
the values threshold decryption yields). Every finished federated run is appended at once to
``<out>/strategies.json`` (``--scan``: ``strategies_scan.json``, the hyper-parameter scan), so
an interrupted study resumes: a run whose alpha, parties, seed, strategy label, preset and
training config are already recorded is skipped. Then ``strategies.png`` and ``strategies.md``
are rendered from the two JSON files only (``--render-only`` re-renders without measuring).

Targets (issue text, in accuracy points): at alpha 0.5 the best strategy's mean gap to
centralized is <= 0.5 with 4 parties and <= 1.0 with 10, over five seeds, and it beats FedAvg
on every seed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from deepchain.bench.strategies_render import (
    BASELINE,
    MARKDOWN_FILE,
    PLOT_FILE,
    SCAN_FILE,
    STUDY_FILE,
    best_strategy,
    markdown,
    plot,
    summaries,
    verdicts,
    vs_text,
)
from deepchain.learning.data import load_dataset
from deepchain.learning.experiment import (
    Comparison,
    exact_twin,
    run_comparisons,
    strategy_arg,
)
from deepchain.learning.models import PRESETS, configure_torch_threads
from deepchain.learning.strategies import Strategy, parse_spec

#: The strategies the study compares, FedAvg first (the baseline): each server optimizer and
#: FedProx at the best settings of the seed-0 scan recorded in ``strategies_scan.json``.
STUDY_STRATEGIES: tuple[str, ...] = (
    "fedavg",
    "fedavgm:server_lr=1.0,beta1=0.7",
    "fedavgm:server_lr=1.0,beta1=0.5",
    "fedadam:server_lr=0.1,tau=0.001",
    "fedyogi:server_lr=0.1,tau=0.001",
    "fedavg:mu=0.01",
)


# -- the store ------------------------------------------------------------------------------------
def run_key(rec: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a run: alpha, parties, seed, strategy label, preset and its config."""
    return (
        float(rec["alpha"]),
        int(rec["parties"]),
        int(rec["seed"]),
        rec["strategy"],
        rec["preset"],
        json.dumps(rec["config"], sort_keys=True),
    )


def load_runs(path: Path) -> list[dict[str, Any]]:
    """The runs recorded in ``path`` (none if it does not exist)."""
    if not path.is_file():
        return []
    return list(json.loads(path.read_text())["runs"])


def save_runs(path: Path, runs: list[dict[str, Any]]) -> None:
    """Write ``runs`` atomically (a crash mid-write leaves the previous file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"kind": "strategy study", "runs": runs}, indent=1))
    os.replace(tmp, path)


def record(
    cmp_: Comparison, strategy: Strategy, alpha: float, seed: int, preset: str
) -> dict[str, Any]:
    """One finished federated run with its baselines, as stored."""
    fed = cmp_.federated
    return {
        "alpha": alpha,
        "parties": cmp_.n_parties,
        "seed": seed,
        "strategy": strategy.label(),
        "spec": strategy.to_json(),
        "preset": preset,
        "config": PRESETS[preset].as_dict(),
        "partition": "dirichlet",
        "diverged": False,
        "data": cmp_.source,
        "train_sizes": fed.train_sizes,
        "test_size": fed.test_size,
        "federated": fed.final_accuracy,
        "federated_curve": [r.accuracy for r in fed.rounds],
        "centralized": cmp_.centralized.final_accuracy,
        "single": cmp_.single_accuracy,
        "gap": cmp_.gap_to_centralized,
        "gain": cmp_.gain_over_single,
        "federated_seconds": fed.wall_seconds,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_grid(
    path: Path,
    strategies: Sequence[Strategy],
    seeds: Iterable[int],
    alphas: Iterable[float],
    parties: Iterable[int],
    preset: str = "paper",
    data_dir: str | None = None,
    log: Callable[..., None] = print,
) -> tuple[list[dict[str, Any]], int]:
    """Run every (alpha, parties, seed, strategy) not yet in ``path``, saving each as it
    finishes (a run that diverges is saved as diverged); returns (all runs, how many new)."""
    config = PRESETS[preset]
    runs = load_runs(path)
    done = {run_key(r) for r in runs}
    data = load_dataset(data_dir)
    make_aggregate = exact_twin(config)
    before = len(runs)
    for alpha, n, seed in itertools.product(alphas, parties, seeds):
        cell = {"alpha": alpha, "parties": n, "seed": seed, "preset": preset}
        cell["config"] = config.as_dict()
        todo = {
            st.label(): st
            for st in strategies
            if run_key(cell | {"strategy": st.label()}) not in done
        }
        if not todo:
            continue
        log(f"== alpha {alpha}, {n} parties, seed {seed}: {list(todo)}")

        def save(rec: dict[str, Any], todo: dict[str, Strategy] = todo) -> None:
            runs.append(rec)
            done.add(run_key(rec))
            save_runs(path, runs)
            todo.pop(rec["strategy"])
            if rec["diverged"]:
                log(f"saved {rec['strategy']}: DIVERGED ({rec['error']})")
            else:
                log(
                    f"saved {rec['strategy']}: federated {rec['federated']:.4f}, gap "
                    f"{100 * rec['gap']:+.2f} pts, gain {100 * rec['gain']:+.2f} pts"
                )

        while todo:  # a diverged run is saved as such; the ones after it run again
            try:
                run_comparisons(
                    n, config, list(todo.values()), seed=seed, data=data,
                    partition="dirichlet", alpha=alpha, make_aggregate=make_aggregate,
                    evaluate_parties=False, log=lambda m: log(m, flush=True),
                    on_comparison=lambda label, c, todo=todo, alpha=alpha, seed=seed: save(
                        record(c, todo[label], alpha, seed, preset)
                    ),
                )  # fmt: skip
            except (FloatingPointError, OverflowError) as exc:  # the next strategy diverged
                st = next(iter(todo.values()))
                save(cell | {"strategy": st.label(), "spec": st.to_json(), "diverged": True,
                             "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
    return runs, len(runs) - before


def render(outdir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Write ``strategies.png`` and ``strategies.md`` from the JSON files in ``outdir``."""
    runs = load_runs(outdir / STUDY_FILE)
    scan = load_runs(outdir / SCAN_FILE)
    if runs:
        plot(runs, outdir)
    (outdir / MARKDOWN_FILE).write_text(markdown(runs, scan, PLOT_FILE))
    return runs, scan


def summary_line(runs: list[dict[str, Any]], new: int, out: str) -> str:
    """The one-line summary the command ends with."""
    vs = verdicts(runs)
    met = sum(v["met"] for v in vs)
    parts = []
    for (alpha, n), by in summaries(runs).items():
        best = best_strategy(by)
        base = by.get(BASELINE)
        txt = f"alpha {alpha:g} N={n}: fedavg gap " + (f"{base['gap_mean']:.2f}" if base else "-")
        if best:
            txt += f", best {best} {by[best]['gap_mean']:.2f} ({vs_text(by[best])})"
        parts.append(txt)
    return (
        f"strategies: {len(runs)} runs ({new} new) in {out}/{STUDY_FILE}; "
        + "; ".join(parts)
        + f"; targets met {met}/{len(vs)}"
    )


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m deepchain.bench strategies")
    ap.add_argument("--seeds", type=_ints, default=[0, 1, 2, 3, 4])
    ap.add_argument("--alphas", type=_floats, default=[0.5, 0.1], help="Dirichlet alphas")
    ap.add_argument("--parties", type=_ints, default=[4, 10])
    ap.add_argument(
        "--strategy",
        action="append",
        type=strategy_arg,
        default=None,
        metavar="NAME[:KEY=VALUE,...]",
        help="repeatable; default FedAvg and each strategy at its scanned best: "
        + ", ".join(STUDY_STRATEGIES),
    )
    ap.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    ap.add_argument("--data-dir", default=None, help="MNIST IDX directory (else env/default)")
    ap.add_argument(
        "--scan", action="store_true", help=f"record into {SCAN_FILE} (the tuning scan)"
    )
    ap.add_argument(
        "--render-only", action="store_true", help="measure nothing: re-render from the JSON"
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    ap.add_argument("--out", default="docs/results")
    args = ap.parse_args(argv)
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    new = 0
    if not args.render_only:
        configure_torch_threads(args.threads)
        strategies = args.strategy or [parse_spec(s) for s in STUDY_STRATEGIES]
        if len({s.label() for s in strategies}) != len(strategies):
            ap.error("each --strategy must differ")
        path = outdir / (SCAN_FILE if args.scan else STUDY_FILE)
        _, new = run_grid(
            path, strategies, args.seeds, args.alphas, args.parties, args.preset, args.data_dir
        )
    runs, _ = render(outdir)
    print(summary_line(runs, new, args.out))
    return 0
