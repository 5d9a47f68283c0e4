"""Key generation benchmark: ``python -m deepchain.bench keygen --parties 4 [--bits 2048]``.

Runs the dealerless ceremony (deepchain.crypto.dkg) with each of the N parties in its own OS
process on this machine (``--in-process``: all in this process, one after the other), relayed
by this process, and the trusted dealer (generate_threshold_keypair) in the same run as the
baseline. Reports, per phase: wall seconds, CPU seconds of all parties (time.process_time,
which a loaded machine does not inflate), the critical path (per round the slowest party's
CPU seconds: the time with one core per party, network aside) and message rounds; bytes each
party sent (self-addressed bodies excluded; what the relay would carry before sealing adds
its 64 bytes per message); peak resident memory per party process and of the driver; the
machine's load; and ends with a one-line summary against the targets (4 parties within
120 s, 10 within 300 s, 2048-bit, wall time). The key is checked:
t random shares decrypt a fresh ciphertext and a Proof_CD verifies.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time

TARGETS = {4: 120.0, 10: 300.0}


def _conditions() -> dict[str, object]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "load_1min": round(load[0], 2),
        "nice": os.nice(0) if hasattr(os, "nice") else 0,
    }


def _check(pk, shares, t: int, rng: random.Random) -> bool:
    from deepchain.bench.contexts import share_ctx
    from deepchain.crypto.paillier import combine, partial_decrypt
    from deepchain.crypto.zk.proof_cd import prove_cd, verify_cd

    m = rng.getrandbits(64)
    c = pk.encrypt(m)
    S = sorted(rng.sample(sorted(shares), t))
    parts = {i: partial_decrypt(pk, shares[i], c) for i in S}
    ctx = share_ctx(pk, S[0])
    proof = prove_cd(pk, shares[S[0]], [c], [parts[S[0]]], ctx=ctx)
    return combine(pk, parts) == m and verify_cd(pk, S[0], [c], [parts[S[0]]], proof, ctx=ctx)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m deepchain.bench keygen")
    ap.add_argument("--parties", type=int, default=4, help="N (default 4)")
    ap.add_argument("--threshold", type=int, default=0, help="t (default N // 2 + 1)")
    ap.add_argument("--bits", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=0, help="candidate pairs per batch (0: auto)")
    ap.add_argument("--no-dealer", action="store_true", help="skip the dealer baseline")
    ap.add_argument("--in-process", action="store_true", help="all parties in this process")
    ap.add_argument("--json", type=str, default="", help="also write every figure here")
    args = ap.parse_args(argv)

    from deepchain.crypto.dkg import DKGParams, DKGParty, ProcessParty, run_ceremony
    from deepchain.crypto.paillier import generate_threshold_keypair

    N = args.parties
    t = args.threshold or N // 2 + 1
    params = DKGParams(args.bits, N, t, batch=args.batch)
    cond = _conditions()
    print(
        f"keygen bench: {args.bits}-bit, N = {N}, t = {t}, T = {params.T}; "
        f"{'all parties in this process' if args.in_process else 'one process per party'}; "
        f"{cond['cpus']} CPUs, load {cond['load_1min']}, nice {cond['nice']}"
    )
    print(
        f"  sieve: {len(params.sieve)} primes {params.sieve[0]}..{params.sieve[-1]}, "
        f"{params.pairs_per_batch} candidate pairs per batch"
    )

    def progress(rounds: int, phase: str) -> None:
        print(f"  round {rounds:3d} done ({phase})", flush=True)

    w0, c0 = time.perf_counter(), time.process_time()
    kind = DKGParty if args.in_process else ProcessParty
    parties = [kind(i, params) for i in range(1, N + 1)]
    try:
        result = run_ceremony(parties, on_round=progress)
        peaks = [getattr(p, "peak_rss", 0) / 1e6 for p in parties]
    finally:
        for p in parties:
            if isinstance(p, ProcessParty):
                p.close()
    wall = time.perf_counter() - w0
    cpu = sum(st.cpu for st in result.phases.values())
    critical = sum(st.critical for st in result.phases.values())
    relay_cpu = time.process_time() - c0
    ok = _check(result.pk, result.shares, t, random.Random())
    sent = result.relay.sent_bytes
    print(f"  {'phase':16s} {'wall s':>9s} {'CPU s':>9s} {'critical s':>11s} {'rounds':>7s}")
    for name, st in result.phases.items():
        print(f"  {name:16s} {st.wall:9.2f} {st.cpu:9.2f} {st.critical:11.2f} {st.rounds:7d}")
    print(f"  {'total':16s} {wall:9.2f} {cpu:9.2f} {critical:11.2f} {result.rounds:7d}")
    if not args.in_process:
        print(f"  relay (this process, pipes + transcript hash): {relay_cpu:.2f} s CPU")
    mb = [sent[i] / 1e6 for i in range(1, N + 1)]
    print(
        f"  bytes sent per party: max {max(mb):.1f} MB, mean {sum(mb) / N:.1f} MB, "
        f"min {min(mb):.1f} MB; key checked (t shares decrypt, Proof_CD verifies): {ok}"
    )
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    if args.in_process:
        mem = f"peak RSS of this process (all parties): {driver_mb:.0f} MB"
    else:
        mem = (
            f"peak RSS per party process: max {max(peaks):.0f} MB, "
            f"mean {sum(peaks) / N:.0f} MB; driver (relay) {driver_mb:.0f} MB"
        )
    print(f"  {mem}")
    top_mb = driver_mb if args.in_process else max(peaks)
    dealer_wall = dealer_cpu = None
    if not args.no_dealer:
        w1, c1 = time.perf_counter(), time.process_time()
        generate_threshold_keypair(args.bits, N, t)
        dealer_wall, dealer_cpu = time.perf_counter() - w1, time.process_time() - c1
        print(
            f"  dealer (generate_threshold_keypair, safe primes): {dealer_wall:.2f} s wall, "
            f"{dealer_cpu:.2f} s CPU"
        )
    target = TARGETS.get(N) if args.bits == 2048 else None
    verdict = (
        ""
        if target is None
        else (f"; target {target:.0f} s: {'met' if wall <= target else 'MISSED'} (wall)")
    )
    ratio = "" if dealer_cpu is None else f", {cpu / dealer_cpu:.1f}x the dealer's CPU time"
    print(
        f"keygen: {args.bits}-bit N={N} t={t} dealerless {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"(critical path {critical:.1f} s){ratio}, {result.rounds} rounds, "
        f"{max(mb):.1f} MB sent max per party, {top_mb:.0f} MB peak RSS{verdict}"
    )
    if args.json:
        doc = {
            "bits": args.bits,
            "N": N,
            "t": t,
            "conditions": cond,
            "wall_s": wall,
            "cpu_s": cpu,
            "critical_s": critical,
            "processes": not args.in_process,
            "rounds": result.rounds,
            "phases": {k: vars(v) for k, v in result.phases.items()},
            "bytes_sent": {str(i): sent[i] for i in range(1, N + 1)},
            "peak_rss_mb": {str(p.i): peaks[k] for k, p in enumerate(parties)},
            "driver_peak_rss_mb": driver_mb,
            "dealer_wall_s": dealer_wall,
            "dealer_cpu_s": dealer_cpu,
            "key_ok": ok,
        }
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)
    return 0 if ok else 1
