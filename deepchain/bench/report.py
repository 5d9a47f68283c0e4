"""Reproducible results report (paper section 5, Figs. 4-7 and 9, plus consensus latency).

    python -m deepchain.bench report [--quick | --tiny] [--out docs/results]

Writes ``<out>/results.json`` (every measured number), PNG plots and ``<out>/README.md``
rendered from that JSON only: nothing in the report is hard-coded except the paper's own
reported figures, quoted for comparison (:data:`PAPER`). Modes: ``full`` (2048-bit key, the
paper training preset; long), ``quick`` (< 5 min: 1024-bit key, few sizes, small model and
rounds) and ``tiny`` (seconds; for tests).

Sections: (1) ciphertext bytes vs number of gradients, packed vs one value per ciphertext,
exact from the platform's PackingScheme (``crypto.packing.PLATFORM_PACKING`` for the preset's
model, up to its N_max = 16 parties) plus real serialized sizes; (2) encryption and aggregation
throughput, this project vs ``phe`` in the same run; (3) test accuracy per round for 4 and 10
parties with single-party and centralized baselines; (4) a round's time by phase vs the number
of parties, composed from per-party costs measured with the real crypto; (5) Blockwise-BA
finality latency vs committee size, with an honest, a silent and an invalid leader.

One piece (over 500 lines) on purpose: it is one script, one config (``ReportConfig``) threaded
through the five measurements in the order the README presents them, and one driver; each
section is a single function of that config. Rendering lives in ``report_render`` and
``report_plots``, which read only the results dict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepchain.bench.contexts import grad_ctx, share_ctx

#: The paper's own reported figures (Weng et al., DeepChain, section 5), quoted for comparison.
PAPER: dict[str, Any] = {
    "accuracy": {
        "4": {"collaborative": [0.967, 0.973], "centralized": 0.984},
        "10": {"collaborative": [0.965, 0.973], "centralized": 0.976},
    },
    "values_per_ciphertext": 20,
}


@dataclass(frozen=True)
class ReportConfig:
    """What a report run measures (see :func:`config_for`)."""

    mode: str
    bits: int
    max_parties: int
    gradient_sizes: tuple[int, ...]
    serialized_sizes: tuple[int, ...]
    phe_cap: int
    agg_parties: int
    preset: str
    preset_overrides: dict[str, Any] = field(default_factory=dict)
    accuracy_parties: tuple[int, ...] = (4, 10)
    data_limit: int | None = None
    party_counts: tuple[int, ...] = tuple(range(2, 17))  # up to the platform's N_max = 16
    keyed_party_counts: tuple[int, ...] = (2, 4, 10, 16)
    sample_cts: int | None = 16
    dec_sample_cts: int = 16
    committee_sizes: tuple[int, ...] = (4, 7, 10, 16)
    block_txs: int = 20
    consensus_reps: int = 1
    timeout_ms: int = 1000
    seed: int = 0


def config_for(mode: str) -> ReportConfig:
    """The ``full``, ``quick`` and ``tiny`` configurations."""
    if mode == "full":
        return ReportConfig(
            mode="full",
            bits=2048,
            max_parties=16,
            gradient_sizes=(10, 100, 1_000, 10_000, 100_000, 1_000_000),
            serialized_sizes=(10, 100, 1_000, 10_000),
            phe_cap=1_000,
            agg_parties=4,
            preset="paper",
            keyed_party_counts=(2, 4, 6, 8, 10, 12, 14, 16),
            sample_cts=None,
            dec_sample_cts=64,
            committee_sizes=(4, 7, 10, 16, 25, 31),
            block_txs=100,
            consensus_reps=3,
        )
    if mode == "quick":
        return ReportConfig(
            mode="quick",
            bits=1024,
            max_parties=16,
            gradient_sizes=(10, 100, 1_000, 10_000, 100_000),
            serialized_sizes=(10, 100, 1_000),
            phe_cap=300,
            agg_parties=4,
            preset="quick",
            preset_overrides={"model": "mlp", "rounds": 5, "local_iterations": 40},
            keyed_party_counts=(2, 4, 8, 12, 16),
            sample_cts=64,
            dec_sample_cts=16,
            committee_sizes=(4, 7, 10, 16, 25),
            consensus_reps=2,
        )
    if mode == "tiny":
        return ReportConfig(
            mode="tiny",
            bits=512,
            max_parties=6,
            gradient_sizes=(10, 100),
            serialized_sizes=(10, 100),
            phe_cap=10,
            agg_parties=3,
            preset="test",
            preset_overrides={"rounds": 2, "local_iterations": 3},
            accuracy_parties=(2, 3),
            data_limit=300,
            party_counts=(2, 3, 4, 6),
            keyed_party_counts=(2, 6),
            sample_cts=2,
            dec_sample_cts=2,
            committee_sizes=(4, 5),
            block_txs=3,
        )
    raise ValueError(f"unknown mode {mode!r} (full, quick or tiny)")


# -- helpers ----------------------------------------------------------------------------------
def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _rate_timed(fn: Callable[[], Any], min_seconds: float = 0.2, max_reps: int = 5) -> float:
    """Median seconds of ``fn`` over repetitions (at least 1, until ``min_seconds`` in total)."""
    ts: list[float] = []
    total = 0.0
    while len(ts) < max_reps and (not ts or total < min_seconds):
        dt, _ = _timed(fn)
        ts.append(dt)
        total += dt
    return statistics.median(ts)


def _fit(k1: int, t1: float, k2: int, t2: float) -> tuple[float, float]:
    """(fixed, per-item) seconds of a cost a + b k measured at k1 < k2 (both clamped >= 0)."""
    b = max(0.0, (t2 - t1) / (k2 - k1))
    return max(0.0, t1 - b * k1), b


def _progress(items: Iterable[Any], desc: str, quiet: bool) -> Iterable[Any]:
    if quiet:
        return items
    from tqdm import tqdm

    return tqdm(list(items), desc=desc, leave=False)


def machine_info() -> dict[str, Any]:
    """Cores, CPU model (from /proc/cpuinfo), load average, Python and library versions."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "load_average_start": load,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def _key(bits: int, N: int, seed: int):
    """A fresh trusted-dealer key for N parties, threshold t = N // 2 + 1 (seeded: test only)."""
    from deepchain.crypto.paillier import generate_threshold_keypair

    t = N // 2 + 1
    dt, (pk, shares) = _timed(
        lambda: generate_threshold_keypair(bits, N, t, random.Random(f"report/{seed}/{bits}/{N}"))
    )
    return pk, shares, dt


def _grads(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.05, size).astype(np.float32)


# -- (1) + (2): ciphertext size and throughput -----------------------------------------------
def measure_crypto(cfg: ReportConfig, pk, scheme, quiet: bool = True) -> dict[str, Any]:
    """Fig. 4 (bytes) and Fig. 5 (gradients/s) for this project and for ``phe``."""
    import phe

    from deepchain.crypto.vector import aggregate, ciphertext_width, encrypt_update

    width = ciphertext_width(pk.n)
    rng = random.Random(cfg.seed)
    size_rows = []
    for g in cfg.gradient_sizes:
        size_rows.append(
            {
                "gradients": g,
                "packed_ciphertexts": scheme.n_ciphertexts(g),
                "packed_bytes": scheme.n_ciphertexts(g) * width,
                "one_per_ct_bytes": g * width,
                "paper_20_per_ct_bytes": -(-g // PAPER["values_per_ciphertext"]) * width,
            }
        )
    t0 = time.perf_counter()
    ppub, _ppriv = phe.generate_paillier_keypair(n_length=cfg.bits)
    phe_keygen = time.perf_counter() - t0
    precision = 1.0 / scheme.scale
    serialized = []
    for g in _progress(cfg.serialized_sizes, "serialized sizes", quiet):
        q = scheme.quantize(_grads(g, cfg.seed))
        upd = encrypt_update(pk, scheme, q, rng=rng, prove=True, ctx=grad_ctx(pk))
        bare = encrypt_update(pk, scheme, q, rng=rng, prove=False)
        phe_bytes = 0
        for v in _grads(min(g, cfg.phe_cap), cfg.seed).tolist():
            c = ppub.encrypt(v, precision=precision).ciphertext(be_secure=False)
            phe_bytes += (c.bit_length() + 7) // 8
        serialized.append(
            {
                "gradients": g,
                "packed_bytes": len(bare.to_bytes(pk)),
                "packed_with_proofs_bytes": len(upd.to_bytes(pk)),
                "phe_bytes": round(phe_bytes * g / min(g, cfg.phe_cap)),
                "phe_measured_values": min(g, cfg.phe_cap),
            }
        )
    thr = []
    k_agg = cfg.agg_parties
    for g in _progress(cfg.gradient_sizes, "throughput", quiet):
        q = scheme.quantize(_grads(g, cfg.seed))
        t_enc = _rate_timed(lambda q=q: encrypt_update(pk, scheme, q, rng=rng, prove=False))
        upd = encrypt_update(pk, scheme, q, rng=rng, prove=False)
        vecs = [upd.ciphertexts] * k_agg
        t_agg = _rate_timed(lambda vecs=vecs: aggregate(pk, vecs))
        m = min(g, cfg.phe_cap)
        vals = _grads(m, cfg.seed).tolist()
        t_phe = _rate_timed(lambda vals=vals: [ppub.encrypt(v, precision=precision) for v in vals])
        encs = [ppub.encrypt(v, precision=precision) for v in vals]

        def phe_sum(encs=encs) -> list:
            out = list(encs)
            for _ in range(k_agg - 1):
                out = [a + b for a, b in zip(out, encs, strict=True)]
            return out

        t_phe_agg = _rate_timed(phe_sum)
        thr.append(
            {
                "gradients": g,
                "encrypt_seconds": t_enc,
                "encrypt_per_s": g / t_enc,
                "aggregate_seconds": t_agg,
                "aggregate_per_s": g * (k_agg - 1) / t_agg if t_agg > 0 else float("inf"),
                "phe_measured_values": m,
                "phe_encrypt_per_s": m / t_phe,
                "phe_aggregate_per_s": m * (k_agg - 1) / t_phe_agg
                if t_phe_agg > 0
                else float("inf"),
            }
        )
    biggest = thr[-1]
    return {
        "ciphertext_bytes": width,
        "sizes": size_rows,
        "serialized": serialized,
        "throughput": thr,
        "agg_parties": k_agg,
        "phe_keygen_seconds": phe_keygen,
        "encrypt_ratio": biggest["encrypt_per_s"] / biggest["phe_encrypt_per_s"],
        "aggregate_ratio": biggest["aggregate_per_s"] / biggest["phe_aggregate_per_s"],
        "size_ratio": size_rows[-1]["one_per_ct_bytes"] / size_rows[-1]["packed_bytes"],
    }


# -- (3): accuracy ------------------------------------------------------------------------------
def measure_accuracy(cfg: ReportConfig, scheme, quiet: bool = True) -> dict[str, Any]:
    """Figs. 6-7: per-round test accuracy of each party, the group, one party alone and the
    centralized model, for each group size in ``cfg.accuracy_parties`` (same W_0 and split)."""
    from deepchain.learning.baselines import (
        initial_params,
        make_parties,
        run_centralized,
        run_federated,
        run_single,
    )
    from deepchain.learning.data import load_dataset, train_test_split
    from deepchain.learning.models import PRESETS

    config = PRESETS[cfg.preset].with_(**cfg.preset_overrides)
    ds = load_dataset()
    if cfg.data_limit is not None and len(ds) > cfg.data_limit:
        idx = np.random.default_rng(cfg.seed).permutation(len(ds))[: cfg.data_limit]
        ds = ds.subset(np.sort(idx))
    train, test = train_test_split(ds, config.test_fraction, cfg.seed)
    w0 = initial_params(config, cfg.seed)

    def quantize(dw: np.ndarray) -> np.ndarray:
        return scheme.dequantize(scheme.quantize(dw))

    cen = run_centralized(train, test, config, seed=cfg.seed, w0=w0)
    out: dict[str, Any] = {
        "config": config.as_dict(),
        "source": ds.source,
        "pool_size": len(train),
        "test_size": len(test),
        "path": "PLAINTEXT FedAvg with the crypto layer's fixed-point quantize/dequantize "
        "round trip (the exact values the encrypted aggregate decrypts to); the encrypted runs "
        "are in section 3b",
        "centralized": _curve(cen),
        "centralized_seconds": cen.wall_seconds,
        "groups": {},
    }
    for n in _progress(cfg.accuracy_parties, "accuracy", quiet):
        shares = make_parties(train, n, "iid", seed=cfg.seed)
        fed = run_federated(
            train, test, config, n, parties=shares, quantize=quantize, seed=cfg.seed, w0=w0
        )
        single = run_single(shares[0], test, config, seed=cfg.seed, w0=w0)
        out["groups"][str(n)] = {
            "n_parties": n,
            "train_sizes": [len(s) for s in shares],
            "federated": _curve(fed),
            "parties": [
                [r.party_accuracy[j] for r in fed.rounds] for j in range(n)
            ],  # each party's local model before aggregation, per round
            "single": _curve(single),
            "final_federated": fed.final_accuracy,
            "final_parties": [
                min(fed.rounds[-1].party_accuracy),
                max(fed.rounds[-1].party_accuracy),
            ],
            "final_single": single.final_accuracy,
            "final_centralized": cen.final_accuracy,
            "seconds": fed.wall_seconds,
        }
    return out


def _curve(res) -> dict[str, list[float]]:
    return {
        "iteration": [0] + [r.iteration for r in res.rounds],
        "accuracy": [res.initial_accuracy] + [r.accuracy for r in res.rounds],
    }


# -- (4): a round's time by phase ----------------------------------------------------------------


def measure_round(cfg: ReportConfig, pk, scheme, quiet: bool = True) -> dict[str, Any]:
    """Per-party costs with the real crypto, composed into a round's time for N parties.

    Parallel (each party on its own machine; the slowest = the measured one): local training,
    encryption + Proof_PK, decryption shares + Proof_CD. Sequential at the verifying worker:
    Proof_PK checks of all N updates, the (N-1) K homomorphic multiplications, the t Proof_CD
    checks and the combination. Ledger consensus is reported separately (section 5).
    """
    from deepchain.bench.report_plots import PHASES
    from deepchain.crypto.vector import (
        aggregate,
        combine_vector,
        decryption_share,
        encrypt_update,
        verify_decryption_share,
        verify_update,
    )
    from deepchain.learning.baselines import initial_params, make_parties
    from deepchain.learning.data import load_dataset, train_test_split
    from deepchain.learning.local import train_local
    from deepchain.learning.models import PRESETS

    config = PRESETS[cfg.preset].with_(**cfg.preset_overrides)
    rng = random.Random(cfg.seed + 1)
    w0 = initial_params(config, cfg.seed)
    G = int(w0.size)
    K = scheme.n_ciphertexts(G)
    ds = load_dataset()
    train, _ = train_test_split(ds, config.test_fraction, cfg.seed)
    share = make_parties(train, 4, "iid", seed=cfg.seed)[0]
    t_train, dw = _timed(
        lambda: train_local(
            config.model, w0, share, config.local_iterations, config.lr, config.batch_size, 1
        )
    )
    q_full = scheme.quantize(np.clip(dw, -scheme.max_abs, scheme.max_abs))
    k_s = K if cfg.sample_cts is None else min(K, cfg.sample_cts)
    q = q_full[: k_s * scheme.slots_per_ciphertext]
    scale = K / k_s
    t_enc, upd = _timed(
        lambda: encrypt_update(pk, scheme, q, rng=rng, prove=True, ctx=grad_ctx(pk))
    )
    t_ver, ok = _timed(lambda: verify_update(pk, scheme, upd, ctx=grad_ctx(pk)))
    assert ok, "a fresh update must verify"
    t_mul, _ = _timed(lambda: aggregate(pk, [upd.ciphertexts] * 2))  # K_s multiplications
    per_party = {
        "gradients": G,
        "ciphertexts": K,
        "sampled_ciphertexts": k_s,
        "extrapolated": k_s < K,
        "local_training_s": t_train,
        "encrypt_prove_s": t_enc * scale,
        "verify_update_s": t_ver * scale,
        "mulmod_per_ct_s": t_mul / k_s,
    }
    # N-dependent costs (Delta = N!, threshold t): one key per measured N
    keyed: dict[str, dict[str, float]] = {}
    for n in _progress(cfg.keyed_party_counts, "keys per N", quiet):
        pk_n, shares_n, keygen_s = _key(cfg.bits, n, cfg.seed)
        k1 = min(K, cfg.dec_sample_cts)
        k2 = min(K, 3 * k1)
        meas: dict[int, tuple[float, float, float]] = {}
        for kk in sorted({k1, k2}):
            ms = scheme.pack(q_full[: kk * scheme.slots_per_ciphertext])
            agg = aggregate(pk_n, [[pk_n.encrypt(m, rng=rng) for m in ms]] * 2)
            t_ds, ds0 = _timed(
                lambda agg=agg, s=shares_n[0], p=pk_n: decryption_share(
                    p, s, agg, ctx=share_ctx(p, s.i)
                )
            )
            dss = [ds0] + [
                decryption_share(pk_n, s, agg, ctx=share_ctx(pk_n, s.i))
                for s in shares_n[1 : pk_n.t]
            ]
            t_vcd, oks = _timed(
                lambda agg=agg, dss=dss, p=pk_n: [
                    verify_decryption_share(p, agg, d, ctx=share_ctx(p, d.i)) for d in dss
                ]
            )
            assert all(oks), "honest decryption shares must verify"
            t_comb, plain = _timed(lambda dss=dss, p=pk_n: combine_vector(p, dss))
            assert plain == [2 * m for m in ms], "threshold decryption must recover the sum"
            meas[kk] = (t_ds, t_vcd, t_comb)

        def cost(j: int, meas=meas, k1=k1, k2=k2) -> float:
            if k2 == k1:
                return meas[k1][j] * K / k1
            a, b = _fit(k1, meas[k1][j], k2, meas[k2][j])
            return a + b * K

        keyed[str(n)] = {
            "t": pk_n.t,
            "keygen_s": keygen_s,
            "sampled_ciphertexts": [k1, k2],
            "decryption_share_s": cost(0),
            "verify_shares_s": cost(1),
            "combine_s": cost(2),
        }
    rows = []
    measured = sorted(int(x) for x in keyed)
    for n in cfg.party_counts:
        near = min(measured, key=lambda m, n=n: (abs(m - n), -m))
        kd = keyed[str(near)]
        t = n // 2 + 1
        # per-share costs scale with t; use the nearest measured key's per-share figure
        phases = {
            PHASES[0]: per_party["local_training_s"],
            PHASES[1]: per_party["encrypt_prove_s"],
            PHASES[2]: n * per_party["verify_update_s"],
            PHASES[3]: (n - 1) * K * per_party["mulmod_per_ct_s"],
            PHASES[4]: kd["decryption_share_s"],
            PHASES[5]: (kd["verify_shares_s"] + kd["combine_s"]) * t / kd["t"],
        }
        rows.append(
            {
                "parties": n,
                "t": t,
                "key_measured_at_N": near,
                "phases": phases,
                "total_s": sum(phases.values()),
            }
        )
    return {"per_party": per_party, "keyed": keyed, "rows": rows, "model": config.model}


# -- (5): consensus ---------------------------------------------------------------------------
def measure_consensus(cfg: ReportConfig, quiet: bool = True) -> dict[str, Any]:
    """Blockwise-BA finality vs committee size: wall-clock compute of the in-process round
    (propose, c re-verifications and votes, quorum, gossip to all workers) plus the protocol
    timeouts spent on replaced leaders (``elapsed_ms``)."""
    from deepchain.ledger.rules import select_leader
    from deepchain.ledger.sim import make_network, run_consensus_round
    from deepchain.ledger.transactions import TxKind, make_tx

    rows = []
    for c in _progress(cfg.committee_sizes, "consensus", quiet):
        row: dict[str, Any] = {"committee": c, "block_txs": cfg.block_txs}
        for case in ("honest", "silent", "forge_signature"):
            secs, timeouts, ks = [], [], []
            for rep in range(cfg.consensus_reps):
                net = make_network(
                    c, committee_size=c, n_parties=cfg.block_txs, seed=cfg.seed + rep
                )
                if case != "honest":
                    leader = select_leader(net.genesis.block_hash, 1, 0, net.nodes[0].workers)
                    net.node(leader).behaviour = case
                txs = [
                    make_tx(p, TxKind.TRANSFER, 1, {"to": net.parties[0].address, "amount": 1})
                    for p in net.parties
                ]
                dt, outc = _timed(
                    lambda net=net, txs=txs: run_consensus_round(
                        net.nodes, txs, timeout_ms=cfg.timeout_ms
                    )
                )
                assert outc.final, outc.reason
                secs.append(dt)
                timeouts.append(outc.elapsed_ms / 1000.0)
                ks.append(outc.k)
            row[case] = {
                "compute_s": statistics.median(secs),
                "timeout_s": statistics.median(timeouts),
                "latency_s": statistics.median(s + t for s, t in zip(secs, timeouts, strict=True)),
                "k": max(ks),
            }
        rows.append(row)
    return {"rows": rows, "timeout_ms": cfg.timeout_ms, "reps": cfg.consensus_reps}


# -- driver ------------------------------------------------------------------------------------
def run_report(
    out: str | os.PathLike[str], cfg: ReportConfig, quiet: bool = False
) -> dict[str, Any]:
    """Measure everything for ``cfg``, write results.json, the PNGs and README.md into ``out``."""
    from deepchain.bench.report_render import render
    from deepchain.crypto.packing import PLATFORM_PACKING
    from deepchain.learning.models import PRESETS

    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    say = (lambda _m: None) if quiet else (lambda m: print(m, flush=True))
    results: dict[str, Any] = {
        "mode": cfg.mode,
        "config": asdict(cfg),
        "machine": machine_info(),
        "paper": PAPER,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    say(f"report ({cfg.mode}): {cfg.bits}-bit key, {results['machine']['cores']} cores")
    pk, _shares, keygen_s = _key(cfg.bits, cfg.max_parties, cfg.seed)
    model = PRESETS[cfg.preset].with_(**cfg.preset_overrides).model
    scheme = PLATFORM_PACKING.scheme(cfg.bits, model)  # what a group training `model` uses
    if cfg.max_parties > scheme.N_max:
        raise ValueError(f"max_parties {cfg.max_parties} exceeds the packing's N_max")
    results["key"] = {
        "bits": cfg.bits,
        "N": pk.N,
        "t": pk.t,
        "keygen_s": keygen_s,
        "slots_per_ciphertext": scheme.slots_per_ciphertext,
        "slot_bits": scheme.slot_bits,
        "Q": scheme.Q,
        "scale": scheme.scale,
    }
    sections = [
        (
            "crypto",
            "1-2/5 ciphertext size and throughput",
            lambda: measure_crypto(cfg, pk, scheme, quiet),
        ),
        (
            "accuracy",
            "3/5 accuracy (4 and 10 parties)",
            lambda: measure_accuracy(cfg, scheme, quiet),
        ),
        ("round", "4/5 round time by phase", lambda: measure_round(cfg, pk, scheme, quiet)),
        ("consensus", "5/5 consensus finality", lambda: measure_consensus(cfg, quiet)),
    ]
    for key, title, fn in sections:
        say(f"[{title}] ...")
        dt, results[key] = _timed(fn)
        results[key]["section_seconds"] = dt
        say(f"[{title}] done in {dt:.1f} s")
    try:
        results["machine"]["load_average_end"] = list(os.getloadavg())
    except OSError:
        results["machine"]["load_average_end"] = []
    results["wall_seconds"] = time.perf_counter() - t_start
    (outdir / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    plots = render(results, outdir)
    results["plots"] = plots
    return results


def rerender(out: str | os.PathLike[str]) -> dict[str, Any]:
    """Re-render ``out`` from its results.json (and any encrypted runs beside it)."""
    from deepchain.bench.report_render import render

    outdir = Path(out)
    path = outdir / "results.json"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found; run `python -m deepchain.bench report` first")
    results = json.loads(path.read_text())
    results["plots"] = render(results, outdir)
    return results


def summary_line(results: dict[str, Any], out: str) -> str:
    """The one-line summary the command ends with."""
    c = results["crypto"]
    acc = results["accuracy"]["groups"]
    accs = ", ".join(f"{n} parties {g['final_federated']:.3f}" for n, g in acc.items())
    rows = results["round"]["rows"]
    cen = results["accuracy"]["centralized"]["accuracy"][-1]
    return (
        f"report: wrote {len(results['plots'])} plots to {out} ({results['mode']} mode, "
        f"{results['key']['bits']}-bit), packed/phe ratio {c['encrypt_ratio']:.0f}x encrypt, "
        f"{c['aggregate_ratio']:.1f}x aggregate, {c['size_ratio']:.0f}x smaller; "
        f"accuracy {accs} (centralized {cen:.3f}); "
        f"round {rows[0]['parties']}->{rows[-1]['parties']} parties "
        f"{rows[0]['total_s']:.1f}->{rows[-1]['total_s']:.1f} s; "
        f"total {results['wall_seconds']:.0f} s"
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m deepchain.bench report")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="reduced run, < 5 minutes")
    g.add_argument("--tiny", action="store_true", help="seconds; smoke test only")
    g.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: re-render README and plots from OUT/results.json and the "
        "encrypted training runs saved beside it",
    )
    ap.add_argument("--out", default="docs/results")
    args = ap.parse_args(argv)
    if args.render_only:
        results = rerender(args.out)
        print(summary_line(results, args.out))
        return 0
    mode = "quick" if args.quick else "tiny" if args.tiny else "full"
    from deepchain.learning.models import configure_torch_threads

    configure_torch_threads()
    results = run_report(args.out, config_for(mode))
    print(summary_line(results, args.out))
    return 0
