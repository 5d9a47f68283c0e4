"""The label-skew study's analysis and rendering: runs grouped per (alpha, parties) cell,
means, spreads and wins over FedAvg, the targets' verdicts, the plot and ``strategies.md``,
all from the recorded runs only (``python -m deepchain.bench strategies`` measures them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from deepchain.bench.report_render import STRATEGY_STUDY
from deepchain.learning.strategies import DEFAULT_STRATEGY

BASELINE = "fedavg"
#: Mean gap to centralized (points) the best strategy must stay within at alpha 0.5.
TARGET_GAP_POINTS: dict[int, float] = {4: 0.5, 10: 1.0}
TARGET_ALPHA = 0.5
#: Seeds a verdict needs (fewer measured seeds give "NOT met (not measured)").
TARGET_SEEDS = 5
STUDY_FILE = "strategies.json"
SCAN_FILE = "strategies_scan.json"
PLOT_FILE = "strategies.png"
MARKDOWN_FILE = STRATEGY_STUDY  # the report links it by this name


# -- the summary ----------------------------------------------------------------------------------
def cells(runs: list[dict[str, Any]]) -> dict[tuple[float, int], dict[str, list[dict[str, Any]]]]:
    """Runs grouped by (alpha, parties), then by strategy label, each sorted by seed."""
    out: dict[tuple[float, int], dict[str, list[dict[str, Any]]]] = {}
    for r in runs:
        out.setdefault((float(r["alpha"]), int(r["parties"])), {}).setdefault(
            r["strategy"], []
        ).append(r)
    for by in out.values():
        for lst in by.values():
            lst.sort(key=lambda r: r["seed"])
    return dict(sorted(out.items(), key=lambda kv: (-kv[0][0], kv[0][1])))


def summarize(runs: list[dict[str, Any]], baseline: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Mean and spread of gap and gain (points) over the runs that did not diverge, and
    per-seed wins over ``baseline`` (a diverged run is no win)."""
    ok = [r for r in runs if not r.get("diverged")]
    gaps = 100 * np.array([r["gap"] for r in ok])
    gains = 100 * np.array([r["gain"] for r in ok])
    sd = (lambda a: float(a.std(ddof=1))) if len(ok) > 1 else (lambda a: 0.0)
    nan = float("nan")
    out: dict[str, Any] = {
        "seeds": [r["seed"] for r in ok],
        "diverged": [r["seed"] for r in runs if r.get("diverged")],
        "federated_mean": float(np.mean([r["federated"] for r in ok])) if ok else nan,
        "centralized_mean": float(np.mean([r["centralized"] for r in ok])) if ok else nan,
        "gap_mean": float(gaps.mean()) if ok else nan,
        "gap_sd": sd(gaps),
        "gap_max": float(gaps.max()) if ok else nan,
        "gain_mean": float(gains.mean()) if ok else nan,
        "gain_sd": sd(gains),
        "gain_min": float(gains.min()) if ok else nan,
    }
    if baseline is not None:
        base = {r["seed"]: r["federated"] for r in baseline if not r.get("diverged")}
        diffs = [100 * (r["federated"] - base[r["seed"]]) for r in ok if r["seed"] in base]
        out["vs_baseline"] = {
            "seeds": sum(r["seed"] in base for r in runs),
            "mean": float(np.mean(diffs)) if diffs else nan,
            "wins": sum(d > 0 for d in diffs),
            "ties": sum(d == 0 for d in diffs),
            "diffs": diffs,
        }
    return out


def summaries(runs: list[dict[str, Any]]) -> dict[tuple[float, int], dict[str, dict[str, Any]]]:
    """:func:`summarize` for every strategy of every (alpha, parties) cell."""
    out = {}
    for cell, by in cells(runs).items():
        base = by.get(BASELINE)
        out[cell] = {
            label: summarize(lst, None if label == BASELINE else base) for label, lst in by.items()
        }
    return out


def best_strategy(by: dict[str, dict[str, Any]]) -> str | None:
    """Among the non-baseline strategies that never diverged and have the most seeds, the one
    with the smallest mean gap (or None)."""
    others = [
        (-len(s["seeds"]), s["gap_mean"], label)
        for label, s in by.items()
        if label != BASELINE and s["seeds"] and not s["diverged"]
    ]
    return min(others)[2] if others else None


def verdicts(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets at alpha 0.5 (gap per number of parties; best beats FedAvg on every seed),
    each met, NOT met, or NOT met because not measured on enough seeds."""
    summ = summaries(runs)
    out = []
    for n, limit in TARGET_GAP_POINTS.items():
        by = summ.get((TARGET_ALPHA, n), {})
        best = best_strategy(by)
        s = by.get(best) if best else None
        enough = s is not None and len(s["seeds"]) >= TARGET_SEEDS
        vs = s.get("vs_baseline") if s else None
        enough_vs = vs is not None and vs["seeds"] >= TARGET_SEEDS
        out.append(
            {
                "target": f"alpha {TARGET_ALPHA:g}, {n} parties: mean gap to centralized "
                f"<= {limit:.1f} points",
                "strategy": best,
                "value": None if s is None else s["gap_mean"],
                "seeds": 0 if s is None else len(s["seeds"]),
                "met": bool(enough and s["gap_mean"] <= limit),
                "measured": enough,
            }
        )
        out.append(
            {
                "target": f"alpha {TARGET_ALPHA:g}, {n} parties: best strategy beats FedAvg "
                "on every seed",
                "strategy": best,
                "value": None if vs is None else vs["wins"],
                "seeds": 0 if vs is None else vs["seeds"],
                "met": bool(enough_vs and vs["wins"] == vs["seeds"]),
                "measured": enough_vs,
            }
        )
    return out


# -- rendering ------------------------------------------------------------------------------------
def plot(runs: list[dict[str, Any]], outdir: Path) -> str:
    """Gap to centralized per strategy (one dot per seed, bar = mean) for each (alpha, N)."""
    from deepchain.bench.report_plots import plt

    by_cell = cells(runs)
    n = max(1, len(by_cell))
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.4), squeeze=False)
    for ax, ((alpha, parties), by) in zip(axes[0], by_cell.items(), strict=False):
        labels = list(by)
        for i, label in enumerate(labels):
            gaps = [100 * r["gap"] for r in by[label] if not r.get("diverged")]
            if not gaps:
                continue
            ax.bar(i, float(np.mean(gaps)), color="C0" if label == BASELINE else "C1", alpha=0.6)
            ax.plot([i] * len(gaps), gaps, "k.", ms=6)
        if alpha == TARGET_ALPHA and parties in TARGET_GAP_POINTS:
            ax.axhline(TARGET_GAP_POINTS[parties], color="r", ls="--", lw=1, label="target")
            ax.legend(fontsize=8)
        ax.axhline(0, color="k", lw=0.5)
        _clip_collapsed(ax, by)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([x.replace("(", "\n(").replace("+", "\n+") for x in labels],
                           fontsize=6)  # fmt: skip
        ax.set_title(f"alpha {alpha:g}, {parties} parties")
        ax.set_ylabel("gap to centralized (points)")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Dirichlet label skew: gap to centralized (dots: seeds, bars: mean)")
    fig.tight_layout()
    fig.savefig(outdir / PLOT_FILE, dpi=110)
    plt.close(fig)
    return PLOT_FILE


#: Gaps above this (points) are a collapsed run: drawn as a labelled arrow at the top.
COLLAPSED_GAP_POINTS = 10.0


def _clip_collapsed(ax: Any, by: dict[str, list[dict[str, Any]]]) -> None:
    """Keep the axis on the runs that trained; label each collapsed run's gap at the top."""
    gaps = [
        (i, r["seed"], 100 * r["gap"])
        for i, lst in enumerate(by.values())
        for r in lst
        if not r.get("diverged")
    ]
    if not any(g > COLLAPSED_GAP_POINTS for _, _, g in gaps):
        return
    top = 1.3 * max(g for _, _, g in gaps if g <= COLLAPSED_GAP_POINTS) + 0.5
    ax.set_ylim(top=top)
    for i, seed, g in gaps:
        if g > COLLAPSED_GAP_POINTS:
            ax.annotate(f"seed {seed}: {g:.1f}", (i, top), xytext=(i, 0.85 * top),
                        ha="center", fontsize=8, color="r",
                        arrowprops={"arrowstyle": "->", "color": "r"})  # fmt: skip


def _pm(s: dict[str, Any], key: str, sign: str = "") -> str:
    return f"{s[key + '_mean']:{sign}.2f} +- {s[key + '_sd']:.2f}"


def vs_text(s: dict[str, Any]) -> str:
    vs = s.get("vs_baseline")
    if vs is None:
        return "(baseline)"
    if not vs["seeds"]:
        return "no FedAvg run on these seeds"
    per_seed = ", ".join(f"{d:+.2f}" for d in vs["diffs"])
    return f"{vs['mean']:+.2f} pts ({per_seed}); better on {vs['wins']}/{vs['seeds']} seeds"


def markdown(runs: list[dict[str, Any]], scan: list[dict[str, Any]], plot_name: str) -> str:
    """``strategies.md`` from the recorded runs (the study and the scan) only."""
    L = ["# Strategies under label skew (FedAvg, FedAvgM, FedAdam, FedYogi, FedProx)", ""]
    L.append(
        "Generated by `python -m deepchain.bench strategies` from "
        f"[{STUDY_FILE}]({STUDY_FILE}) and [{SCAN_FILE}]({SCAN_FILE}). Every run is the "
        "experiment's comparison (federated vs centralized vs party 0 alone, same split, "
        "Dirichlet partition and W_0 per seed) with the encrypted path's exact fixed-point "
        "arithmetic (packing quantization, 1/N mean and the server optimizer in integers): the "
        "values threshold decryption yields, not an encrypted run. Gap = centralized minus "
        "federated final test accuracy, gain = federated minus one party alone, in points; "
        "sd is the sample standard deviation over seeds."
        + "".join(
            f" One held-out image is {100 / t:.3g} points ({t} test images)."
            for t in sorted({r["test_size"] for r in runs if not r.get("diverged")})
        )
    )
    L.append("")
    presets = sorted({(r["preset"], json.dumps(r["config"], sort_keys=True)) for r in runs})
    for name, cfg in presets:
        L.append(f"Preset `{name}`: `{cfg}`.")
    L.append("")
    L.append("## Targets")
    L.append("")
    for v in verdicts(runs):
        if not v["measured"]:
            state = (
                f"**NOT met** (not measured on {TARGET_SEEDS} seeds: {v['seeds']} measured"
                + (
                    f", value so far {v['value']:.2f} points"
                    if v["value"] is not None and "gap" in v["target"]
                    else ""
                )
                + ")"
            )
        elif "gap" in v["target"]:
            state = f"{'**met**' if v['met'] else '**NOT met**'}: {v['value']:.2f} points"
        else:
            state = (
                f"{'**met**' if v['met'] else '**NOT met**'}: better on {v['value']}/"
                f"{v['seeds']} seeds"
            )
        who = f" (best strategy: `{v['strategy']}`)" if v["strategy"] else ""
        L.append(f"- {v['target']}{who}: {state}.")
    L.append("")
    if runs:
        L.append(f"![strategies]({plot_name})")
        L.append("")
    L.append("## Study")
    L.append("")
    L.append(
        "| alpha | N | strategy | seeds | federated (mean) | centralized (mean) | gap: mean +- "
        "sd (worst) | gain over alone: mean +- sd (worst) | vs FedAvg (same seeds) |"
    )
    L.append("|---:|---:|---|---|---:|---:|---:|---:|---|")
    for (alpha, n), by in summaries(runs).items():
        for label, s in by.items():
            if s["diverged"]:
                div = ",".join(map(str, s["diverged"]))
                L.append(f"| {alpha:g} | {n} | `{label}` | diverged on seed(s) {div} "
                         "| | | | | |")  # fmt: skip
            if not s["seeds"]:
                continue
            L.append(
                f"| {alpha:g} | {n} | `{label}` | {','.join(map(str, s['seeds']))} "
                f"| {s['federated_mean']:.4f} | {s['centralized_mean']:.4f} "
                f"| {_pm(s, 'gap')} ({s['gap_max']:.2f}) | {_pm(s, 'gain', '+')} "
                f"({s['gain_min']:+.2f}) | {vs_text(s)} |"
            )
    L.append("")
    L.append("## Default for new groups")
    L.append("")
    L.extend(_default_note(runs))
    L.append("")
    L.append("## Hyper-parameter scan")
    L.append("")
    if not scan:
        L.append("No scan recorded (`python -m deepchain.bench strategies --scan ...`).")
    else:
        L.append(
            "One seed per setting: the scan picks settings (a difference of a few test images is "
            "noise); the study above is what measures them."
        )
        L.append("")
        studied = {r["strategy"] for r in runs}
        only_scan = sorted({r["strategy"] for r in scan} - studied)
        if only_scan:
            L.append(
                "Measured in the scan only (one seed each, as in the table), not in the study: "
                + ", ".join(f"`{x}`" for x in only_scan)
                + "."
            )
            L.append("")
        L.append("| alpha | N | seed | strategy | federated | gap | vs FedAvg |")
        L.append("|---:|---:|---:|---|---:|---:|---:|")
        base = {
            (r["alpha"], r["parties"], r["seed"]): r["federated"]
            for r in scan
            if r["strategy"] == BASELINE and not r.get("diverged")
        }

        def order(r: dict[str, Any]) -> tuple[Any, ...]:
            return (-r["alpha"], r["parties"], r["seed"], r.get("gap", float("inf")))

        for r in sorted(scan, key=order):
            if r.get("diverged"):
                L.append(
                    f"| {r['alpha']:g} | {r['parties']} | {r['seed']} | `{r['strategy']}` "
                    f"| diverged ({r['error']}) | | |"
                )
                continue
            b = base.get((r["alpha"], r["parties"], r["seed"]))
            diff = "" if b is None else f"{100 * (r['federated'] - b):+.2f}"
            mark = " (*)" if r.get("note") else ""
            L.append(
                f"| {r['alpha']:g} | {r['parties']} | {r['seed']} | `{r['strategy']}`{mark} "
                f"| {r['federated']:.4f} | {100 * r['gap']:.2f} | {diff} |"
            )
        for note in sorted({r["note"] for r in scan if r.get("note")}):
            L.append("")
            L.append(f"(*) {note}.")
    L.append("")
    return "\n".join(L)


def _default_note(runs: list[dict[str, Any]]) -> list[str]:
    """Which strategy new groups get and whether this study's measurement supports it."""
    label = DEFAULT_STRATEGY.label()
    by = summaries(runs).get((TARGET_ALPHA, 4), {})
    vs = by.get(label, {}).get("vs_baseline")
    line = (
        f"New groups take `{label}` unless their creator picks another "
        "(`deepchain.learning.strategies.DEFAULT_STRATEGY`, used by the service, the API and "
        "the create form; recorded in GROUP_CREATE). "
    )
    if label == BASELINE:
        return [line + "No strategy beat FedAvg on every seed, so FedAvg stays the default."]
    if vs and vs["seeds"] >= TARGET_SEEDS and vs["wins"] == vs["seeds"]:
        line += (
            f"It beat FedAvg on {vs['wins']}/{vs['seeds']} seeds at alpha "
            f"{TARGET_ALPHA:g} with 4 parties (mean {vs['mean']:+.2f} points). It was measured "
            "with the paper preset (paper_cnn) under label skew only; IID groups and other "
            "models take it untested here."
        )
    else:
        line += "**This study does not show it beating FedAvg on every seed.**"
    out = [line, ""]
    for (alpha, n), cell in summaries(runs).items():
        d = cell.get(label, {}).get("vs_baseline")
        if not d or not d["diffs"]:
            continue
        worst = min(range(len(d["diffs"])), key=d["diffs"].__getitem__)
        seed = cell[label]["seeds"][worst]
        flag = " **(worse than FedAvg)**" if d["diffs"][worst] < 0 else ""
        out.append(
            f"- alpha {alpha:g}, {n} parties: better than FedAvg on {d['wins']}/{d['seeds']} "
            f"seeds; worst seed {seed}: {d['diffs'][worst]:+.2f} points{flag}."
        )
    return out
