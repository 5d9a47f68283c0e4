"""Threshold Paillier benchmark: ``python -m deepchain.bench crypto [--quick] [--bits 2048]``.

Measures, at the platform's packing (``crypto.packing.PLATFORM_PACKING`` for ``--model``, default
the paper's CNN), for one key (default 2048 bits), each operation's median time, packed gradients
encrypted per second on one core, ciphertext bytes per gradient, one party's decryption shares
(with the batched Proof_CD) over a G-gradient aggregate, and the baseline ``phe`` encrypting
one value per ciphertext in the same run. ``--quick`` reuses a cached test key from
var/bench/ (labelled; never use it for anything else) and extrapolates the decryption-share
time from a smaller vector. Times are CPU seconds of this process (time.process_time), i.e.
one core's work, so a loaded machine does not inflate them; keygen is also CPU time.
Proof_PK is reported in both modes, per ciphertext and relative to encryption: "each" (one
proof per ciphertext) and "batch" (one proof per update, zk.batch_proof_pk.prove_update; its cost is
r = 128 commitments per update plus integer additions, so per ciphertext it falls with the
update's size: it is measured on a whole G-gradient update, also in --quick).
The slot-bound proof (zk.slot_bound: every coordinate within the group's L-inf bound) is
measured on an update the size of ``--model`` (252,398 parameters for the paper's CNN) at the
platform's bound for update_clip 8, beside encryption + the batched Proof_PK of the same update;
``--only-bound`` runs that section alone; with ``--l2-clip`` the group also has that L2 bound
(zk.norm_bound) and the section measures the L2 part's extra prover and verifier time and bytes
on the same update (clipped to both bounds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

from deepchain.bench.contexts import grad_ctx, share_ctx


@contextlib.contextmanager
def _backend(native: bool):
    """Run the block with the native modexp kernel on (if available) or DEEPCHAIN_NATIVE=0."""
    old = os.environ.get("DEEPCHAIN_NATIVE")
    os.environ["DEEPCHAIN_NATIVE"] = "1" if native else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("DEEPCHAIN_NATIVE", None)
        else:
            os.environ["DEEPCHAIN_NATIVE"] = old


def _cpu(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def _median(fn, reps: int) -> float:
    ts = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        ts.append(time.process_time() - t0)
    return statistics.median(ts)


def _key(bits: int, N: int, t: int, quick: bool):
    from deepchain.crypto.paillier import (
        KeyShare,
        ThresholdPublicKey,
        generate_threshold_keypair,
    )

    cache = Path("var/bench") / f"crypto_test_key_{bits}_{N}_{t}.json"
    if quick and cache.exists():
        d = json.loads(cache.read_text())
        pk = ThresholdPublicKey.from_json(d["pk"])
        return pk, [KeyShare.from_json(s, pk) for s in d["shares"]], None
    t0 = time.process_time()
    pk, shares = generate_threshold_keypair(bits, N, t)
    dt = time.process_time() - t0
    cache.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "label": "BENCHMARK TEST KEY - cached by deepchain.bench.crypto, not for real use",
        "pk": pk.to_json(),
        "shares": [s.to_json() for s in shares],
    }
    cache.write_text(json.dumps(doc))
    cache.chmod(0o600)
    return pk, shares, dt


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m deepchain.bench crypto")
    ap.add_argument("--quick", action="store_true", help="< 60 s: cached key, extrapolation")
    ap.add_argument("--bits", type=int, default=2048)
    ap.add_argument("--gradients", type=int, default=100_000)
    ap.add_argument("--parties", type=int, default=10)
    ap.add_argument("--model", default="paper_cnn", help="whose platform packing to measure")
    ap.add_argument(
        "--bound-length",
        type=int,
        default=None,
        help="coordinates of the slot-bound proof's update (default: the model's)",
    )
    ap.add_argument(
        "--only-bound", action="store_true", help="measure the slot-bound proof section only"
    )
    ap.add_argument(
        "--l2-clip",
        type=float,
        default=None,
        help="also measure the slot-bound proof with this L2 bound on the update (its extra "
        "prover and verifier time and bytes)",
    )
    ap.add_argument(
        "--hash-bound-only",
        action="store_true",
        help="in the slot-bound section, measure only the hash-based proof (zk.ligero_slot_bound)",
    )
    args = ap.parse_args(argv)
    if args.only_bound:
        return bound_section(args)

    import gmpy2
    import phe

    from deepchain.crypto.modexp import backend, native_available
    from deepchain.crypto.packing import PLATFORM_PACKING
    from deepchain.crypto.paillier import (
        comb_table,
        combine,
        key_ceremony_context,
        partial_decrypt,
        partial_decrypt_all,
    )
    from deepchain.crypto.security_params import ALPHA_BITS
    from deepchain.crypto.vector import aggregate, decryption_share, encrypt_update
    from deepchain.crypto.zk.batch_proof_pk import prove_update, verify_update_proof
    from deepchain.crypto.zk.proof_cd import prove_cd, verify_cd
    from deepchain.crypto.zk.proof_pk import prove_pk, verify_pk
    from deepchain.crypto.zk.ring_pedersen import prove_prm, verify_prm
    from deepchain.crypto.zk.sigma import ring_pedersen_bases

    quick = args.quick
    N = args.parties
    t = N // 2 + 1
    print(f"# crypto benchmark: {args.bits}-bit n, N={N}, t={t}, CPU time of one process (one "
          f"core), quick={quick}; modexp kernel: {backend()}")  # fmt: skip
    pk, shares, keygen_s = _key(args.bits, N, t, quick)
    if keygen_s is None:
        print("keygen (safe primes + shares):   cached test key from var/bench (not timed)")
    else:
        print(f"keygen (safe primes + shares):   {keygen_s:9.2f} s  (once)")
    scheme = PLATFORM_PACKING.scheme(args.bits, args.model)
    if args.parties > scheme.N_max:
        ap.error(f"--parties must be <= the platform's N_max = {scheme.N_max}")
    print(f"# packing: the platform's for {args.model} (Q = {scheme.Q}, scale 2^"
          f"{int(scheme.scale).bit_length() - 1}, N_max = {scheme.N_max})")  # fmt: skip
    B = scheme.plaintext_bits
    rng = random.Random(1)
    m = scheme.pack(np.full(scheme.slots_per_ciphertext, 12345, dtype=np.int64))[0]
    n2 = pk.n2

    t0 = time.process_time()
    comb_table(pk.n, pk.h_s)
    table_s = time.process_time() - t0
    kctx = key_ceremony_context(pk)
    t_prm_v = _cpu(lambda: verify_prm(pk.ring_pedersen, kctx))
    t0 = time.process_time()
    ring_pedersen_bases(pk)  # Pi^prm check (cached afterwards) + the tables on s, t
    rp_table_s = time.process_time() - t0 - t_prm_v
    # Pi^prm prove: the key holder's 128 exponentiations mod N^ with |N^|-bit exponents; timed
    # with a stand-in for phi(N^) (the real one is forgotten; the cost does not depend on it)
    rp = pk.ring_pedersen
    lam = rng.getrandbits(pk.n_bits - 2)
    t_prm_p = _cpu(lambda: prove_prm(rp.N_hat, pk.n >> 1, pow(rp.t, lam, rp.N_hat), rp.t, lam,
                                     kctx, rng))  # fmt: skip
    reps = 30 if quick else 100

    def plain_djn():
        a = rng.getrandbits(ALPHA_BITS)
        return (1 + m * pk.n) * gmpy2.powmod(pk.h_s, a, n2) % n2

    t_plain = _median(plain_djn, reps)
    t_enc = _median(lambda: pk.encrypt(m, rng=rng), reps * 3)
    alpha = rng.getrandbits(ALPHA_BITS)
    c = pk.encrypt(m, alpha)
    t_ppk = _median(lambda: prove_pk(pk, c, m, alpha, B, rng, ctx=grad_ctx(pk)), reps)
    proof = prove_pk(pk, c, m, alpha, B, rng, ctx=grad_ctx(pk))
    t_vpk = _median(lambda: verify_pk(pk, c, proof, B, ctx=grad_ctx(pk)), reps)
    t_pd = _median(lambda: partial_decrypt(pk, shares[0], c), 5 if quick else 15)
    # partial decryptions of one batch sharing the exponent 2 Delta s_i: kernel vs gmpy2
    batch = [pk.encrypt(m, rng=rng) for _ in range(16 if quick else 64)]
    pd_rate = {}
    for native in (True, False):
        with _backend(native):
            pd_rate[native] = len(batch) / _cpu(lambda: partial_decrypt_all(pk, shares[0], batch))
    with _backend(True):
        assert partial_decrypt_all(pk, shares[0], batch) == [
            partial_decrypt(pk, shares[0], x) for x in batch
        ]
    cs = [pk.encrypt(m) for _ in range(8)]
    cis = [partial_decrypt(pk, shares[0], x) for x in cs]
    t_pcd = _median(lambda: prove_cd(pk, shares[0], cs, cis, ctx=share_ctx(pk, shares[0].i)), 3)
    pcd = prove_cd(pk, shares[0], cs, cis, ctx=share_ctx(pk, shares[0].i))
    t_vcd = _median(lambda: verify_cd(pk, 1, cs, cis, pcd, ctx=share_ctx(pk, 1)), 3)
    parts = {s.i: partial_decrypt(pk, s, c) for s in shares[:t]}
    t_comb = _median(lambda: combine(pk, parts), 10)
    assert combine(pk, parts) == m

    print(f"comb table on h_s (8-bit windows): {table_s * 1e3:8.1f} ms  (once per key)")
    print(f"comb tables on s, t (mod N^):    {rp_table_s * 1e3:9.1f} ms  (once per key)")
    print(f"Pi^prm prove (key holder, m=128): {t_prm_p * 1e3:8.1f} ms  (once per key)")
    print(f"Pi^prm verify (m=128):           {t_prm_v * 1e3:9.1f} ms  (once per key and verifier)")
    print(f"encrypt, plain DJN h_s^alpha:    {t_plain * 1e3:9.3f} ms")
    print(f"encrypt, comb table:             {t_enc * 1e3:9.3f} ms")
    print(f"Proof_PK prove, each:            {t_ppk * 1e3:9.3f} ms  ({t_ppk / t_enc:.2f}x encrypt)")
    print(f"Proof_PK verify, each:           {t_vpk * 1e3:9.3f} ms")
    print(f"partial decryption c^(2 D s_i):  {t_pd * 1e3:9.3f} ms  (one at a time, gmpy2)")
    print(f"Proof_CD prove (batch of 8):     {t_pcd * 1e3:9.3f} ms")
    print(f"Proof_CD verify (batch of 8):    {t_vcd * 1e3:9.3f} ms")
    print(f"combine ({t} shares):             {t_comb * 1e3:9.3f} ms")

    # packed throughput over a real gradient vector
    G = args.gradients
    g_enc = min(G, 20_000) if quick else G
    grads = np.random.default_rng(0).normal(0, 0.05, g_enc).astype(np.float32)
    q = scheme.quantize(grads)
    enc_s = {}
    for native in (True, False):  # the platform's path with the kernel on, and on gmpy2
        with _backend(native):
            t0 = time.process_time()
            upd = encrypt_update(pk, scheme, q, prove=False)
            enc_s[native] = time.process_time() - t0
    t_vec = enc_s[True]
    packed_rate = g_enc / t_vec
    k_enc = len(upd.ciphertexts)
    width = (n2.bit_length() + 7) // 8
    bytes_per_grad = k_enc * width / g_enc
    print(
        f"packed encryption: {scheme.slots_per_ciphertext} slots x {scheme.slot_bits} bits; "
        f"{g_enc} gradients ({k_enc} ct) in {t_vec:.2f} s -> {packed_rate:,.0f} gradients/s"
    )

    # Proof_PK per ciphertext, both modes, relative to encryption of the same plaintexts; the
    # batch proof is measured on a whole G-gradient update (its cost per ciphertext depends on k)
    k_full = scheme.n_ciphertexts(G)
    q_full = scheme.quantize(np.random.default_rng(1).normal(0, 0.05, G).astype(np.float32))
    ms = scheme.pack(q_full)
    alphas = [rng.getrandbits(ALPHA_BITS) for _ in ms]
    t0 = time.process_time()
    cs = [pk.encrypt(mm, al) for mm, al in zip(ms, alphas, strict=True)]
    t_enc_vec = time.process_time() - t0
    t0 = time.process_time()
    bproof = prove_update(pk, scheme, cs, ms, alphas, ctx=grad_ctx(pk))
    t_batch = time.process_time() - t0
    t0 = time.process_time()
    assert verify_update_proof(pk, scheme, cs, bproof, ctx=grad_ctx(pk))
    t_bver = time.process_time() - t0
    t0 = time.process_time()
    prove_update(pk, scheme, cs[:1], ms[:1], alphas[:1], ctx=grad_ctx(pk))
    t_batch_1 = time.process_time() - t0
    enc_ct = t_enc_vec / k_full
    batch_ct = t_batch / k_full
    print(f"Proof_PK per ciphertext vs encryption ({enc_ct * 1e3:.3f} ms/ct in this loop):")
    print(f"  each:  {t_ppk * 1e3:8.3f} ms/ct = {t_ppk / t_enc:5.2f}x encryption")
    print(
        f"  batch: {batch_ct * 1e3:8.3f} ms/ct = {batch_ct / enc_ct:5.2f}x encryption "
        f"(one proof for {k_full} ct = {G} gradients: {t_batch:.2f} s; "
        f"fixed cost, 1 ct: {t_batch_1:.2f} s)"
    )
    print(f"  batch verify: {t_bver:.2f} s for {k_full} ct ({t_bver / k_full * 1e3:.3f} ms/ct)")
    rate_each = 1 / (1 / packed_rate + t_ppk / scheme.slots_per_ciphertext)
    rate_batch = 1 / (1 / packed_rate + batch_ct / scheme.slots_per_ciphertext)
    print(
        f"  with Proof_PK: {rate_batch:,.0f} gradients/s (batch), {rate_each:,.0f} gradients/s "
        "(each)"
    )
    small = q[: 2 * scheme.slots_per_ciphertext]
    bb = len(encrypt_update(pk, scheme, small, ctx=grad_ctx(pk)).to_bytes(pk))
    eb = len(encrypt_update(pk, scheme, small, proof_mode="each", ctx=grad_ctx(pk)).to_bytes(pk))
    nb = len(encrypt_update(pk, scheme, small, prove=False).to_bytes(pk))
    batch_proof_bytes = bb - nb
    each_proof_bytes = (eb - nb) / 2
    print(
        f"ciphertext bytes/gradient: {bytes_per_grad:.2f} "
        f"(+ {each_proof_bytes / scheme.slots_per_ciphertext:.2f} with Proof_PK each; "
        f"+ {batch_proof_bytes} bytes per update with the batch proof)"
    )

    # one party's decryption shares over a G-gradient aggregate, kernel vs gmpy2
    ds_s: dict[bool, float] = {}
    for native in (True, False):
        with _backend(native):
            if not quick:
                agg = aggregate(pk, [[pk.encrypt(m) for _ in range(k_full)]] * 2)
                ds_s[native] = _cpu(
                    lambda agg=agg: decryption_share(
                        pk, shares[0], agg, ctx=share_ctx(pk, shares[0].i)
                    )
                )
                how = "measured"
            else:  # two sizes -> per-ciphertext slope + fixed proof cost, extrapolated
                ts = {}
                for k in (8, 24):
                    agg = aggregate(pk, [[pk.encrypt(m) for _ in range(k)]] * 2)
                    ts[k] = _cpu(
                        lambda agg=agg: decryption_share(
                            pk, shares[0], agg, ctx=share_ctx(pk, shares[0].i)
                        )
                    )
                ds_s[native] = ts[8] + (ts[24] - ts[8]) / 16 * (k_full - 8)
                how = "EXTRAPOLATED from 8 and 24 ct"
    print(
        f"one party's decryption shares + Proof_CD, {G} gradients ({k_full} ct), {how}: "
        f"{ds_s[True]:.1f} s with the kernel, {ds_s[False]:.1f} s with gmpy2"
    )

    # baseline: phe, one value per ciphertext, same key size
    t0 = time.process_time()
    ppub, _ = phe.generate_paillier_keypair(n_length=args.bits)
    phe_keygen = time.process_time() - t0
    vals = [float(x) for x in grads[: (20 if quick else 60)]]
    t0 = time.process_time()
    for v in vals:
        ppub.encrypt(v)
    phe_rate = len(vals) / (time.process_time() - t0)
    print(f"phe keygen {phe_keygen:.2f} s; phe encrypt: {1e3 / phe_rate:.2f} ms/value")
    phe_bytes = width / 1  # one ciphertext per value
    kernel = "kernel" if native_available() else "kernel (unavailable: gmpy2)"
    pd_x = pd_rate[True] / pd_rate[False]
    print(f"side by side, one core, {args.bits}-bit n, packing Q = {scheme.Q}:")
    print(f"  {'':34s} {kernel:>14s} {'gmpy2':>14s} {'phe':>14s}")
    print(f"  {'partial decryptions / s':34s} {pd_rate[True]:14.1f} {pd_rate[False]:14.1f} "
          f"{'-':>14s}")  # fmt: skip
    print(f"  {'one party shares + Proof_CD (s)':34s} {ds_s[True]:14.1f} {ds_s[False]:14.1f} "
          f"{'-':>14s}")  # fmt: skip
    print(f"  {'encryptions / s (ciphertexts)':34s} {k_enc / enc_s[True]:14.0f} "
          f"{k_enc / enc_s[False]:14.0f} {phe_rate:14.0f}")  # fmt: skip
    print(f"  {'gradients encrypted / s':34s} {g_enc / enc_s[True]:14,.0f} "
          f"{g_enc / enc_s[False]:14,.0f} {phe_rate:14,.0f}")  # fmt: skip
    print(f"  {'ciphertext bytes / gradient':34s} {bytes_per_grad:14.2f} {bytes_per_grad:14.2f} "
          f"{phe_bytes:14.0f}")  # fmt: skip
    print("  (encryption uses comb-table products, not the kernel: both columns run the same path)")
    ratio = packed_rate / phe_rate
    print(
        f"proofs: Proof_PK batch {batch_ct * 1e3:.3f} ms/ct prove ({batch_ct / enc_ct:.2f}x "
        f"encryption), {t_bver / k_full * 1e3:.3f} ms/ct verify; each {t_ppk * 1e3:.2f} ms prove "
        f"({t_ppk / t_enc:.1f}x), {t_vpk * 1e3:.2f} ms verify; Pi^prm {t_prm_p:.2f} s prove, "
        f"{t_prm_v:.2f} s verify (once per key)"
    )
    print(
        f"crypto: partial decryptions {pd_rate[True]:.0f}/s kernel vs {pd_rate[False]:.0f}/s "
        f"gmpy2 ({pd_x:.2f}x, target >= 3x {'met' if pd_x >= 3 else 'NOT met'}); packed "
        f"{packed_rate:.0f} gradients/s, phe {phe_rate:.0f} gradients/s, ratio {ratio:.0f}x, "
        f"{bytes_per_grad:.2f} bytes/gradient (Q = {scheme.Q})"
    )
    return bound_section(args, pk)


def bound_section(args: argparse.Namespace, pk=None) -> int:
    """Slot-bound proof vs encryption + batched Proof_PK on one whole update (CPU seconds)."""
    import dataclasses

    from deepchain.crypto.packing import PLATFORM_PACKING
    from deepchain.crypto.vector import encrypt_update
    from deepchain.crypto.zk.slot_bound import prove_slot_bound, verify_slot_bound
    from deepchain.learning.models import PRESETS, build_model, param_count

    if pk is None:
        pk = _key(args.bits, args.parties, args.parties // 2 + 1, True)[0]
    clip = PRESETS[args.model].update_clip if args.model in PRESETS else 8.0
    scheme = PLATFORM_PACKING.scheme(args.bits, args.model, clip or 8.0, args.l2_clip)
    c2 = scheme.l2_bound
    length = args.bound_length or param_count(build_model(args.model))
    rng = random.Random(3)
    dw = np.random.default_rng(2).normal(0, clip or 8.0, length)  # many coordinates clipped
    q = scheme.quantize(dw)
    plain = dataclasses.replace(scheme, bound=None, l2_bound=None)
    t0 = time.process_time()
    upd = encrypt_update(pk, plain, q, rng, ctx=grad_ctx(pk))  # what an update costs today
    t_today = time.process_time() - t0
    # the alphas of the same ciphertexts: re-encrypt with known randomness (not timed)
    ms = scheme.pack(q)
    alphas = [rng.getrandbits(448) for _ in ms]
    cs = [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)]
    _hash_bound_section(pk, scheme, q, cs, alphas, rng, t_today)
    if args.hash_bound_only:
        return 0
    t0 = time.process_time()
    proof = prove_slot_bound(pk, scheme, scheme.bound, q, cs, alphas, rng, ctx=grad_ctx(pk))
    t_prove = time.process_time() - t0
    t0 = time.process_time()
    ok = verify_slot_bound(pk, scheme, scheme.bound, length, cs, proof, ctx=grad_ctx(pk))
    t_verify = time.process_time() - t0
    assert ok, "the honest slot-bound proof does not verify"
    nbytes = len(proof.to_bytes())
    ell = (2 * scheme.bound).bit_length()
    print(f"# slot-bound proof: {length:,} coordinates, bound |q| <= {scheme.bound} "
          f"(update_clip {clip}), {ell} bits per coordinate, {len(cs)} ciphertexts")  # fmt: skip
    print(f"encrypt + batched Proof_PK (today): {t_today:9.2f} s")
    print(f"slot-bound prove:                  {t_prove:9.2f} s  ({t_prove / t_today:.1f}x today; "
          f"target <= 2x {'met' if t_prove <= 2 * t_today else 'NOT met'})")  # fmt: skip
    print(f"slot-bound verify:                 {t_verify:9.2f} s  ({t_verify / t_today:.1f}x today;"
          f" target <= 1x {'met' if t_verify <= t_today else 'NOT met'})")  # fmt: skip
    print(f"slot-bound proof bytes / parameter: {nbytes / length:8.1f}  ({nbytes:,} bytes; target "
          f"<= 2 {'met' if nbytes <= 2 * length else 'NOT met'}); update without it: "
          f"{len(upd.to_bytes(pk)) / length:.2f} bytes / parameter")  # fmt: skip
    if c2 is not None:
        _l2_section(pk, scheme, q, cs, alphas, rng, (t_prove, t_verify, nbytes), t_today)
    return 0


def _hash_bound_section(pk, scheme, q, cs, alphas, rng, t_today: float) -> None:
    """The hash-based slot-bound proof (zk.ligero_slot_bound) of the same update."""
    from deepchain.crypto.native import babybear_ntt
    from deepchain.crypto.zk.ligero_slot_bound import (
        prove_ligero_slot_bound,
        verify_ligero_slot_bound,
    )

    length = int(q.size)
    t0 = time.process_time()
    proof = prove_ligero_slot_bound(pk, scheme, scheme.bound, q, cs, alphas, rng, ctx=grad_ctx(pk))
    t_prove = time.process_time() - t0
    t0 = time.process_time()
    ok = verify_ligero_slot_bound(pk, scheme, scheme.bound, length, cs, proof, ctx=grad_ctx(pk))
    t_verify = time.process_time() - t0
    assert ok, "the honest hash-based slot-bound proof does not verify"
    nbytes = len(proof.to_bytes())
    ntt = "native" if babybear_ntt(np.zeros((1, 2), dtype=np.uint64)) is not None else "numpy"
    print(f"# hash-based slot-bound proof (Ligero over BabyBear, {ntt} NTT; not yet the "
          f"platform's proof): {length:,} coordinates, bound |q| <= {scheme.bound}, "
          f"{len(cs)} ciphertexts; encrypt + Proof_PK (today): {t_today:.2f} s")  # fmt: skip
    print(f"hash-based prove:                  {t_prove:9.2f} s  ({t_prove / t_today:.1f}x today; "
          f"target <= 2x {'met' if t_prove <= 2 * t_today else 'NOT met'})")  # fmt: skip
    print(f"hash-based verify:                 {t_verify:9.2f} s  ({t_verify / t_today:.1f}x today;"
          f" target <= 1x {'met' if t_verify <= t_today else 'NOT met'})")  # fmt: skip
    print(f"hash-based bytes / parameter:      {nbytes / length:9.2f}  ({nbytes:,} bytes; target "
          f"<= 2 {'met' if nbytes <= 2 * length else 'NOT met'})")  # fmt: skip


def _l2_section(pk, scheme, q, cs, alphas, rng, without, t_today: float) -> None:
    """The same update's slot-bound proof with the L2 bound: its extra time and bytes."""
    from deepchain.crypto.encoding import square_norm
    from deepchain.crypto.zk.slot_bound import bit_basis, prove_slot_bound, verify_slot_bound

    c2, length = scheme.l2_bound, int(q.size)
    t0 = time.process_time()
    proof = prove_slot_bound(pk, scheme, scheme.bound, q, cs, alphas, rng, ctx=grad_ctx(pk),
                             c2=c2)  # fmt: skip
    t_prove = time.process_time() - t0
    t0 = time.process_time()
    ok = verify_slot_bound(pk, scheme, scheme.bound, length, cs, proof, ctx=grad_ctx(pk), c2=c2)
    t_verify = time.process_time() - t0
    assert ok, "the honest slot-bound proof with the L2 bound does not verify"
    nbytes = len(proof.to_bytes())
    p0, v0, b0 = without
    print(f"# with the L2 bound ||q||_2 <= {c2} (sum q^2 = {square_norm(q):,} <= {c2 * c2:,}; "
          f"{len(bit_basis(c2 * c2))} slack bits)")  # fmt: skip
    print(f"slot-bound + L2 prove:             {t_prove:9.2f} s  (+{t_prove - p0:.2f} s over "
          f"L-inf only, {t_prove / p0 - 1:+.1%}; {t_prove / t_today:.1f}x today)")  # fmt: skip
    print(f"slot-bound + L2 verify:            {t_verify:9.2f} s  (+{t_verify - v0:.2f} s over "
          f"L-inf only, {t_verify / v0 - 1:+.1%}; {t_verify / t_today:.1f}x today)")  # fmt: skip
    print(f"slot-bound + L2 proof bytes:       {nbytes:,}  (+{nbytes - b0:,} bytes over L-inf "
          f"only, {nbytes / length:.1f} bytes / parameter)")  # fmt: skip
