"""Encrypted collaborative training vs its plaintext baselines, in process.

``python -m deepchain.bench training --parties 4 [--quick]``: the same crypto and learning
calls as the party agent and the platform (train_local -> quantize, clipped to the group's
bound -> encrypt_update with Proof_PK and the slot-bound proof (``--no-bound``: without) ->
update_refusal -> aggregate -> each decrypting agent's own verification of the aggregate
(``agent_verify.recompute_aggregate``) -> decryption_share with Proof_CD -> verify ->
combine_vector -> unpack -> the group's strategy, ``--strategy``: FedAvg by default, or
FedProx / a server optimizer of ``learning.strategies``), on the held-out test split, next to
plaintext FedAvg on the same seeds, the plaintext fixed-point twin of the same strategy (its final
model must be bit-for-bit the encrypted one), one party alone, and all data centralized. Every
round's model is then re-derived, as the auditor does, from W_0 and the decrypted aggregates
alone. Prints the time per round split by phase (CPU time of the one process doing everyone's
work, so other load on the machine does not inflate it; wall time with ``--processes`` > 1) and
the round with each party on its own host, one agent's aggregate verification beside its share
per round, and ends with a one-line summary (the verification's share included). No Django.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from deepchain.agent_verify import recompute_aggregate
from deepchain.bench.contexts import grad_ctx, share_ctx
from deepchain.blobs import blob_hash
from deepchain.crypto.modexp import backend as modexp_backend
from deepchain.crypto.packing import PLATFORM_PACKING
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import (
    EncryptedUpdate,
    aggregate,
    combine_vector,
    decryption_share,
    encrypt_update,
    update_refusal,
    verify_decryption_share,
)
from deepchain.learning.baselines import (
    initial_params,
    local_seed,
    make_parties,
    run_centralized,
    run_federated,
    run_single,
)
from deepchain.learning.data import load_dataset, train_test_split
from deepchain.learning.experiment import meets_targets, strategy_arg
from deepchain.learning.fixed_point import fixed_point_twin
from deepchain.learning.local import evaluate, train_local
from deepchain.learning.models import PRESETS, configure_torch_threads
from deepchain.learning.strategies import (
    Strategy,
    apply_strategy,
    replay_models,
    scale_bits_of,
)

#: Phases each party runs on its own host (the rest is the verifying worker's).
PARTY_PHASES = ("training", "encrypt+prove", "agent_verify", "shares+prove")
#: phases summed over the t decrypting parties (the others over all N)
PER_DECRYPTOR = ("agent_verify", "shares+prove")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m deepchain.bench training")
    p.add_argument("--parties", type=int, default=4)
    p.add_argument(
        "--threshold", type=int, default=None, help="t (default: N // 2 + 1, an honest majority)"
    )
    p.add_argument("--key-bits", type=int, default=2048)
    p.add_argument("--quick", action="store_true", help="mlp, 3 rounds x 60 iterations")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--local-iterations", type=int, default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--processes", type=int, default=1, help="crypto worker processes")
    p.add_argument("--partition", choices=["iid", "dirichlet"], default="iid")
    p.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration")
    p.add_argument(
        "--strategy",
        type=strategy_arg,
        default=Strategy(),
        metavar="NAME[:KEY=VALUE,...]",
        help="the group's strategy, as in the experiment CLI (e.g. fedavgm:beta1=0.5 or "
        "fedavg:mu=0.01); default fedavg",
    )
    p.add_argument("--json", default=None, help="write every figure of the run to this path")
    p.add_argument(
        "--no-bound",
        action="store_true",
        help="no slot-bound proof (the platform's groups have one: update_clip)",
    )
    p.add_argument(
        "--l2-clip",
        type=float,
        default=None,
        help="the group's optional L2 bound on each update (the agents, the twin and the "
        "slot-bound proof all use it); default none",
    )
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    a = _parse(argv)
    configure_torch_threads()
    cfg = PRESETS["paper"]
    if a.quick:
        cfg = cfg.with_(model="mlp", rounds=3, local_iterations=60)
    over = {"rounds": a.rounds, "local_iterations": a.local_iterations, "model": a.model}
    cfg = cfg.with_(**{k: v for k, v in over.items() if v is not None})
    n, seed = a.parties, a.seed
    # one process does everyone's work: its CPU time is the work, unaffected by other load on a
    # shared machine; with crypto worker processes their CPU is not counted, so wall time
    clock = time.process_time if a.processes <= 1 else time.perf_counter
    clock_name = "CPU time of this process" if a.processes <= 1 else "wall time"
    t = a.threshold or n // 2 + 1
    ds = load_dataset()
    train, test = train_test_split(ds, cfg.test_fraction, seed)
    strat: Strategy = a.strategy
    shares = make_parties(train, n, a.partition, a.alpha, seed)
    print(f"data {ds.source}: pool {len(train)}, test {len(test)}, {n} parties "
          f"{a.partition}; model {cfg.model}, {cfg.rounds} rounds x {cfg.local_iterations} it, "
          f"lr {cfg.lr}; strategy {strat.label()}")  # fmt: skip
    t0 = clock()
    pk, keys = generate_threshold_keypair(a.key_bits, n, t)
    keygen_s = clock() - t0
    clip = None if a.no_bound else cfg.update_clip  # a group's bound is its update_clip
    scheme = PLATFORM_PACKING.scheme(
        pk.n_bits, cfg.model, clip, None if clip is None else a.l2_clip
    )
    w = initial_params(cfg, seed)
    w0, s_bits = w.copy(), scale_bits_of(scheme.scale)
    opt_state = strat.initial_state(w.size, s_bits)
    published: list[tuple[np.ndarray, int]] = []  # each round's decrypted (S, n): the chain's
    models: list[np.ndarray] = []
    print(f"keygen {a.key_bits}-bit N={n} t={t}: {keygen_s:.1f}s; {w.size} parameters -> "
          f"{scheme.n_ciphertexts(w.size)} ciphertexts/party "
          f"({scheme.slots_per_ciphertext} slots, Q = {scheme.Q}); times: {clock_name}, "
          f"modexp kernel: {modexp_backend()}")  # fmt: skip
    phases = ["training", "encrypt+prove", "verify", "aggregate", "agent_verify", "shares+prove",
              "verify_shares", "combine"]  # fmt: skip
    times: list[dict[str, float]] = []
    curve: list[float] = []
    party_acc: list[float] = []
    for r in range(1, cfg.rounds + 1):
        tm = dict.fromkeys(phases, 0.0)
        qs, upds, party_acc = [], [], []
        for j, share in enumerate(shares):
            s = clock()
            dw = train_local(cfg.model, w, share, cfg.local_iterations, cfg.lr_at(r),
                             cfg.batch_size, local_seed(seed, r, j), momentum=cfg.momentum,
                             update_clip=cfg.update_clip, prox_mu=strat.mu)  # fmt: skip
            tm["training"] += clock() - s
            party_acc.append(evaluate(cfg.model, w + dw, test)[0])
            q = scheme.quantize(dw)
            s = clock()
            upds.append(encrypt_update(pk, scheme, q, processes=a.processes, ctx=grad_ctx(pk)))
            tm["encrypt+prove"] += clock() - s
            qs.append(q)
        s = clock()
        assert all(
            update_refusal(pk, scheme, u, processes=a.processes, ctx=grad_ctx(pk)) == ""
            for u in upds
        )
        tm["verify"] = clock() - s
        s = clock()
        agg = aggregate(pk, [u.ciphertexts for u in upds])
        tm["aggregate"] = clock() - s
        # each decrypting agent first recomputes C(sum dW) from the accepted updates' blobs (as
        # served: bytes re-hashed against their GRADIENT's hash) and compares it with the served
        # aggregate (agent_verify.recompute_aggregate), then computes its share of it
        served = EncryptedUpdate(ciphertexts=agg, proofs=[], length=w.size).to_bytes(pk)
        inputs = [
            (f"party{j}", blob_hash(b), b) for j, b in enumerate(u.to_bytes(pk) for u in upds)
        ]
        dss = []
        for k in keys[:t]:
            s = clock()
            checked = recompute_aggregate(pk, served, blob_hash(served), inputs)
            tm["agent_verify"] += clock() - s
            s = clock()
            dss.append(
                decryption_share(
                    pk, k, checked.ciphertexts, processes=a.processes, ctx=share_ctx(pk, k.i)
                )
            )
            tm["shares+prove"] += clock() - s
        s = clock()
        assert all(verify_decryption_share(pk, agg, d, ctx=share_ctx(pk, d.i)) for d in dss)
        tm["verify_shares"] = clock() - s
        s = clock()
        sums = scheme.unpack(combine_vector(pk, dss), w.size, n)
        assert np.array_equal(sums, np.sum(qs, axis=0)), "decrypted aggregate != sum of updates"
        w, opt_state = apply_strategy(strat, w, sums, n, opt_state, s_bits)
        published.append((sums, n))
        models.append(w)
        tm["combine"] = clock() - s
        acc = evaluate(cfg.model, w, test)[0]
        times.append(tm)
        curve.append(acc)
        print(f"round {r}: encrypted collaborative acc {acc:.4f}; " +
              ", ".join(f"{k} {v:.1f}s" for k, v in tm.items()))  # fmt: skip
        v_s, sh_s = tm["agent_verify"] / t, max(tm["shares+prove"] / t, 1e-9)
        print(f"round {r}: one agent's aggregate verification {v_s * 1000:.1f} ms beside its "
              f"decryption share {sh_s * 1000:.1f} ms ({v_s / sh_s:.1%} of it)")  # fmt: skip
    enc_acc = curve[-1] if curve else evaluate(cfg.model, w, test)[0]
    # the auditor's view: every round's model re-derived from W_0 and the published aggregates
    rederived = replay_models(strat, w0, published, s_bits)
    audit_ok = len(rederived) == len(models) and all(
        np.array_equal(x, y) for x, y in zip(rederived, models, strict=True)
    )
    plain = run_federated(
        train, test, cfg, n, parties=shares, seed=seed, evaluate_parties=False,
        strategy=Strategy(mu=strat.mu),
    )  # fmt: skip
    twin = run_federated(
        train, test, cfg, n, parties=shares, seed=seed, evaluate_parties=False,
        aggregate=fixed_point_twin(scheme, strat), strategy=strat,
    )  # fmt: skip
    twin_equal = twin.final_params is not None and np.array_equal(twin.final_params, w)
    cen = run_centralized(train, test, cfg, seed=seed)
    single = run_single(shares[0], test, cfg, seed=seed)
    print("final test accuracy:")
    for j, pa in enumerate(party_acc):
        print(f"  party {j} (local model of the last round): {pa:.4f}; "
              f"with the collaborative model: {enc_acc:.4f}")  # fmt: skip
    print(f"  party 0 alone: {single.final_accuracy:.4f}")
    print(f"  centralized: {cen.final_accuracy:.4f}")
    print(f"  plaintext FedAvg (same seeds, float): {plain.final_accuracy:.4f}")
    print(
        f"  plaintext twin, {strat.label()} (same seeds, same fixed point): "
        f"{twin.final_accuracy:.4f}; final model bit-for-bit equal: {twin_equal}"
    )
    print(f"  every round's model re-derived from W_0 and the decrypted aggregates: "
          f"{'yes' if audit_ok else 'NO'} ({len(models)} rounds)")  # fmt: skip
    print(f"  encrypted DeepChain: {enc_acc:.4f}")
    mean = {k: float(np.mean([tm[k] for tm in times])) for k in phases}
    total = sum(mean.values())
    print("time per round by phase: " + ", ".join(f"{k} {v:.1f}s" for k, v in mean.items()) +
          f" (total {total:.1f}s, all {n} parties and the worker on this machine)")  # fmt: skip
    # On their own hosts the parties train, encrypt and decrypt in parallel: one party's share.
    per_party = {k: mean[k] / (t if k in PER_DECRYPTOR else n) for k in PARTY_PHASES}
    verify_ratio = mean["agent_verify"] / max(mean["shares+prove"], 1e-9)
    deployed = sum(per_party.values()) + sum(v for k, v in mean.items() if k not in PARTY_PHASES)
    print("one party's time per round: " + ", ".join(f"{k} {v:.1f}s" for k, v in
          per_party.items()) + f"; round with parties in parallel: {deployed:.1f}s")  # fmt: skip
    diff = abs(enc_acc - twin.final_accuracy) * 100
    float_diff = abs(enc_acc - plain.final_accuracy) * 100
    gap = (cen.final_accuracy - enc_acc) * 100
    gain = (enc_acc - single.final_accuracy) * 100
    ok = diff <= 0.1 and audit_ok
    targets = meets_targets(cen.final_accuracy - enc_acc, enc_acc - single.final_accuracy)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(
                {
                    "parties": n, "threshold": t, "key_bits": a.key_bits, "seed": seed,
                    "partition": a.partition, "alpha": a.alpha, "strategy": strat.to_json(),
                    "strategy_label": strat.label(), "twin_model_equal": twin_equal,
                    "models_rederived": audit_ok,
                    "config": cfg.as_dict(), "source": ds.source,
                    "parameters": int(w.size),
                    "ciphertexts_per_party": scheme.n_ciphertexts(w.size),
                    "encrypted_accuracy": enc_acc, "encrypted_curve": curve,
                    "party_accuracy": party_acc, "plaintext_twin_accuracy": twin.final_accuracy,
                    "plaintext_float_accuracy": plain.final_accuracy,
                    "centralized_accuracy": cen.final_accuracy,
                    "single_accuracy": single.final_accuracy, "round_seconds": times,
                    "mean_round_seconds": mean, "party_round_seconds": per_party,
                    "parallel_round_seconds": deployed, "targets_met": targets,
                    "clock": clock_name, "modexp": modexp_backend(), "Q": scheme.Q,
                    "bound_proof": scheme.bound is not None,
                    "agent_verify_ratio": verify_ratio,
                },
                f, indent=1,
            )  # fmt: skip
    print(f"SUMMARY training N={n} t={t} {a.key_bits}-bit {cfg.model} {strat.label()}: "
          f"encrypted {enc_acc:.4f} "
          f"vs plaintext {twin.final_accuracy:.4f} (diff {diff:.2f} pts, {'OK' if ok else 'MISS'}; "
          f"float FedAvg {plain.final_accuracy:.4f}, diff {float_diff:.2f} pts), "
          f"centralized gap {gap:.2f} pts, gain over single {gain:.2f} pts "
          f"(targets {'met' if targets else 'NOT met'}), {total:.1f}s/round, own hosts "
          f"{deployed:.1f}s/round ({clock_name}, modexp {modexp_backend()}), agent "
          f"verification {verify_ratio:.1%} of a share")  # fmt: skip
    return 0 if ok else 1
