"""Accuracy against Q, the bits per quantized value: ``python -m deepchain.bench packing``.

For each model (default: the paper's CNN and the MLP, both with the paper preset's rounds and
local iterations) runs plaintext FedAvg in float (the baseline) and its fixed-point twin
(``party.fixed_point_twin``: exactly the encrypted path's arithmetic, so the encrypted run's
accuracy equals it) at each Q, with the platform's range (scale 2^(Q - RANGE_BITS)). Prints the
final test accuracy, the difference to float, slots per 2048-bit ciphertext, ciphertexts per
party and bytes per gradient, then the smallest Q from which every larger Q measured stays
within ``--tolerance`` points of float, and the one-line summary. No cryptography runs here:
the twin is exact, so this is cheap.
"""

from __future__ import annotations

import argparse
import json
from functools import partial

from deepchain.crypto.packing import PLATFORM_PACKING, PlatformPacking
from deepchain.learning.baselines import initial_params, make_parties, run_federated
from deepchain.learning.data import load_dataset, train_test_split
from deepchain.learning.fixed_point import fixed_point_twin
from deepchain.learning.models import PRESETS, configure_torch_threads


def choose_q(float_acc: float, acc_by_q: dict[int, float], tolerance: float) -> int:
    """The smallest measured Q such that it and every larger measured Q are within
    ``tolerance`` (a fraction of accuracy) of ``float_acc``; the largest Q if none is."""
    qs = sorted(acc_by_q)
    best = qs[-1]
    for q in reversed(qs):
        if abs(acc_by_q[q] - float_acc) > tolerance + 1e-9:  # accuracies are k / |test|
            break
        best = q
    return best


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m deepchain.bench packing")
    p.add_argument("--models", default="paper_cnn,mlp")
    p.add_argument("--qs", default="8,10,12,14,16,20")
    p.add_argument("--parties", type=int, default=4)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--local-iterations", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bits", type=int, default=2048)
    p.add_argument("--tolerance", type=float, default=0.1, help="accuracy points")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    configure_torch_threads()
    qs = sorted(int(x) for x in a.qs.split(","))
    ds = load_dataset()
    out: dict[str, dict] = {}
    summary = []
    for model in a.models.split(","):
        cfg = PRESETS["paper"].with_(model=model)
        over = {"rounds": a.rounds, "local_iterations": a.local_iterations}
        cfg = cfg.with_(**{k: v for k, v in over.items() if v is not None})
        train, test = train_test_split(ds, cfg.test_fraction, a.seed)
        shares = make_parties(train, a.parties, "iid", 0.5, a.seed)
        size = initial_params(cfg, a.seed).size
        run = partial(
            run_federated, train, test, cfg, a.parties, parties=shares, seed=a.seed,
            evaluate_parties=False,
        )  # fmt: skip
        float_acc = run().final_accuracy
        print(f"{model}: {size} parameters, {cfg.rounds} rounds x {cfg.local_iterations} it, "
              f"{a.parties} parties, {ds.source}; float FedAvg {float_acc:.4f}")  # fmt: skip
        rows = {}
        for q in qs:
            scheme = PlatformPacking(q_by_model={model: q}).scheme(a.bits, model)
            acc = run(aggregate=fixed_point_twin(scheme)).final_accuracy
            k = scheme.n_ciphertexts(size)
            width = ((2 * a.bits) + 7) // 8
            rows[q] = {
                "accuracy": acc,
                "slots": scheme.slots_per_ciphertext,
                "ciphertexts": k,
                "bytes_per_gradient": k * width / size,
            }
            print(f"  Q={q:2d} scale 2^{q - PLATFORM_PACKING.range_bits}: twin {acc:.4f} "
                  f"({(acc - float_acc) * 100:+.2f} pts), {scheme.slots_per_ciphertext} slots "
                  f"x {scheme.slot_bits} bits, {k} ct/party, "
                  f"{rows[q]['bytes_per_gradient']:.2f} B/gradient")  # fmt: skip
        chosen = choose_q(float_acc, {q: r["accuracy"] for q, r in rows.items()}, a.tolerance / 100)
        print(f"  chosen Q for {model}: {chosen} (platform now uses {PLATFORM_PACKING.Q(model)})")
        out[model] = {"float_accuracy": float_acc, "by_q": rows, "chosen_q": chosen}
        summary.append(f"{model} Q={chosen} ({rows[chosen]['ciphertexts']} ct/party)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    print(f"SUMMARY packing: within {a.tolerance} pts of float FedAvg: " + ", ".join(summary))
    return 0
