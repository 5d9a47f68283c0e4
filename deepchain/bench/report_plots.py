"""The results report's figures (PNG, matplotlib's Agg backend), from the results dict only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: the phases of a round's time (section 4, paper Fig. 9), in the order they run
PHASES = (
    "local training",
    "encryption + Proof_PK",
    "verification (Proof_PK)",
    "aggregation",
    "decryption shares + Proof_CD",
    "combine (Proof_CD checks + Lagrange)",
)


def _save(fig, outdir: Path, name: str, plots: list[str]) -> None:
    fig.tight_layout()
    fig.savefig(outdir / name, dpi=110)
    plt.close(fig)
    plots.append(name)


def plot_sizes(r: dict[str, Any], outdir: Path, plots: list[str]) -> None:
    c = r["crypto"]
    g = [x["gradients"] for x in c["sizes"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.loglog(g, [x["one_per_ct_bytes"] for x in c["sizes"]], "o-", label="one value per ct")
    ax.loglog(
        g, [x["paper_20_per_ct_bytes"] for x in c["sizes"]], "s--", label="20 values per ct (paper)"
    )
    ax.loglog(
        g,
        [x["packed_bytes"] for x in c["sizes"]],
        "^-",
        label=f"packed, {r['key']['slots_per_ciphertext']} per ct (this project)",
    )
    s = c["serialized"]
    gs = [x["gradients"] for x in s]
    ax.loglog(gs, [x["packed_bytes"] for x in s], "kx", ms=9, label="measured to_bytes, packed")
    ax.loglog(
        gs, [x["packed_with_proofs_bytes"] for x in s], "r+", ms=10, label="measured, + Proof_PK"
    )
    ax.loglog(gs, [x["phe_bytes"] for x in s], "md", mfc="none", label="measured phe ciphertexts")
    ax.set_xlabel("number of gradients")
    ax.set_ylabel("ciphertext bytes")
    ax.set_title(f"Fig. 4: ciphertext size ({r['key']['bits']}-bit n)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, outdir, "fig4_cipher_size.png", plots)


def plot_throughput(r: dict[str, Any], outdir: Path, plots: list[str]) -> None:
    t = r["crypto"]["throughput"]
    g = [x["gradients"] for x in t]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in (
        (axes[0], "encrypt", "gradients encrypted / s"),
        (axes[1], "aggregate", f"gradient additions / s ({r['crypto']['agg_parties']} parties)"),
    ):
        ax.loglog(g, [x[f"{key}_per_s"] for x in t], "^-", label="this project (packed)")
        ax.loglog(g, [x[f"phe_{key}_per_s"] for x in t], "o--", label="phe (one value per ct)")
        ax.set_xlabel("number of gradients")
        ax.set_ylabel(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 5: throughput ({r['key']['bits']}-bit n, one core)")
    _save(fig, outdir, "fig5_throughput.png", plots)


def plot_accuracy(r: dict[str, Any], n: str, outdir: Path, plots: list[str]) -> None:
    a = r["accuracy"]
    grp = a["groups"][n]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    it = grp["federated"]["iteration"][1:]
    for j, curve in enumerate(grp["parties"]):
        ax.plot(
            it, curve, "-", lw=0.8, alpha=0.6, label="each party's local model" if j == 0 else None
        )
    ax.plot(
        grp["federated"]["iteration"],
        grp["federated"]["accuracy"],
        "b-o",
        lw=2,
        label="collaborative (group model)",
    )
    ax.plot(grp["single"]["iteration"], grp["single"]["accuracy"], "g--", label="one party alone")
    ax.plot(
        a["centralized"]["iteration"], a["centralized"]["accuracy"], "k:", lw=2, label="centralized"
    )
    paper = r["paper"]["accuracy"].get(n)
    if paper:
        lo, hi = paper["collaborative"]
        ax.axhspan(lo, hi, color="orange", alpha=0.25, label=f"paper collaborative {lo}-{hi}")
        ax.axhline(
            paper["centralized"],
            color="red",
            lw=0.8,
            label=f"paper centralized {paper['centralized']}",
        )
    ax.set_ylim(max(0.0, min(grp["federated"]["accuracy"][1:] + [0.5]) - 0.05), 1.0)
    ax.set_xlabel("local SGD iterations per party")
    ax.set_ylabel("test accuracy")
    fig_no = {"4": "Fig. 6", "10": "Fig. 7"}.get(n, "Figs. 6-7")
    ax.set_title(f"{fig_no}: {n} parties, {a['config']['model']}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, outdir, f"fig6_7_accuracy_{n}_parties.png", plots)


def run_data(run: dict[str, Any]) -> str:
    """How a training run split the data: "iid" or "Dirichlet alpha A"."""
    if run.get("partition", "iid") == "iid":
        return "iid"
    return f"Dirichlet alpha {run['alpha']:g}"


def plot_encrypted(r: dict[str, Any], outdir: Path, plots: list[str]) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for run in r["encrypted"]:
        k = run["config"]["local_iterations"]
        it = [k * (i + 1) for i in range(len(run["encrypted_curve"]))]
        (line,) = ax.plot(
            it,
            run["encrypted_curve"],
            "-o",
            label=f"{run['parties']} parties, t = {run['threshold']}, {run['key_bits']}-bit, "
            f"{run_data(run)}, {run.get('strategy_label', 'fedavg')}",
        )
        ax.axhline(
            run["centralized_accuracy"], color=line.get_color(), ls=":", lw=1,
            label=f"centralized (same split as {run['parties']} parties, {run_data(run)})",
        )  # fmt: skip
    ax.set_xlabel("local SGD iterations per party")
    ax.set_ylabel("test accuracy")
    ax.set_title("Encrypted DeepChain training (threshold Paillier)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, outdir, "encrypted_training.png", plots)


def plot_round(r: dict[str, Any], outdir: Path, plots: list[str]) -> None:
    rows = r["round"]["rows"]
    ns = [x["parties"] for x in rows]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    bottom = [0.0] * len(rows)
    for ph in PHASES:
        vals = [x["phases"][ph] for x in rows]
        ax.bar(ns, vals, bottom=bottom, label=ph)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xlabel("number of parties N")
    ax.set_ylabel("seconds per round")
    ax.set_title(
        f"Fig. 9: round time by phase ({r['key']['bits']}-bit n, "
        f"{r['round']['per_party']['gradients']:,} gradients)"
    )
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    _save(fig, outdir, "fig9_round_time.png", plots)


CASES = {"honest": "honest leader", "silent": "silent leader", "forge_signature": "invalid block"}


def plot_consensus(r: dict[str, Any], outdir: Path, plots: list[str]) -> None:
    rows = r["consensus"]["rows"]
    cs = [x["committee"] for x in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for case, label in CASES.items():
        axes[0].plot(cs, [x[case]["compute_s"] * 1e3 for x in rows], "o-", label=label)
        axes[1].plot(cs, [x[case]["latency_s"] for x in rows], "o-", label=label)
    axes[0].set_ylabel("in-process compute (ms)")
    axes[1].set_ylabel(f"finality latency incl. {r['consensus']['timeout_ms']} ms timeouts (s)")
    for ax in axes:
        ax.set_xlabel("committee size c")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Blockwise-BA block finality vs committee size")
    _save(fig, outdir, "consensus_latency.png", plots)
