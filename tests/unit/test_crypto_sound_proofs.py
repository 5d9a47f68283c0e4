"""Attack tests: real malicious provers against the real Proof_PK / batched Proof_PK / Proof_CD
/ Pi^prm verifiers.

- The half-exponent opening: M = A/2 mod n for an odd A, S = u^A t^mu with u^2 = s, grind
  Fiat-Shamir until the challenge is even, z1 = x + (e/2) A. It passes every check when the
  prover knows a square root u of s (as with hash-derived bases s = u_s^2, or a key holder who
  leaks tau, lambda): shown here against a leaky key, so the attack code is known to work. With
  the key's Pi^prm-checked parameters nobody knows a root, and the same prover is rejected.
- Context binding: a proof replayed into another round, group, phase, party index, address or
  key, an update copied by another party, an update spliced from two parties' ciphertexts, and
  proofs moved between positions are all rejected; the honest path verifies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import (
    ThresholdPublicKey,
    generate_threshold_keypair,
    key_ceremony_context,
    partial_decrypt,
    safe_prime,
)
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.vector import (
    EncryptedUpdate,
    decryption_share,
    encrypt_update,
    proof_context,
    verify_decryption_share,
    verify_update,
)
from deepchain.crypto.zk.batch_proof_pk import (
    BATCH_R,
    LOG_R,
    BatchProofPK,
    batch_rho,
    batch_transcript,
    batch_w,
    verify_update_proof,
)
from deepchain.crypto.zk.proof_cd import prove_cd
from deepchain.crypto.zk.proof_pk import ProofPK, pk_challenge, prove_pk, verify_pk
from deepchain.crypto.zk.ring_pedersen import PRM_M, prm_challenge, prove_prm, verify_prm
from deepchain.crypto.zk.sigma import ring_pedersen_bases
from deepchain.crypto.zk.transcript import ProofContext, Transcript

GROUP = "co-attack"
K_BITS, KAPPA, ALPHA = 128, 40, 448


@pytest.fixture(scope="module")
def keys():
    return generate_threshold_keypair(512, 3, 2, rng=random.Random(41))


@pytest.fixture(scope="module")
def pk(keys) -> ThresholdPublicKey:
    return keys[0]


@pytest.fixture(scope="module")
def scheme() -> PackingScheme:
    return PackingScheme(512, N_max=4)


def ctx_of(pk, index=1, round_no=1, group=GROUP, phase="gradient_submission", address=None):
    return proof_context(pk, group, round_no, phase, index, address or f"addr-{index}")


@pytest.fixture(scope="module")
def leaky(pk) -> tuple[ThresholdPublicKey, int]:
    """PK_model whose key holder leaked a square root u of s: N^ from fresh safe primes,
    t = tau^2, s = t^lambda, u = tau^lambda, and a VALID Pi^prm (s is in <t>)."""
    rng = random.Random(42)
    p, q = safe_prime(256, rng), safe_prime(256, rng)
    N, phi = int(p * q), int((p - 1) // 2 * ((q - 1) // 2))
    tau = rng.randrange(2, N)
    lam = rng.randrange(phi)
    t = pow(tau, 2, N)
    s = pow(t, lam, N)
    params = prove_prm(N, phi, s, t, lam, key_ceremony_context(pk), rng)
    u = pow(tau, lam, N)
    assert u * u % N == s
    bad = dataclasses.replace(pk, ring_pedersen=params)
    assert verify_prm(params, key_ceremony_context(bad))  # a well-formed key as far as anyone sees
    return bad, u


def legacy_root(n: int) -> int:
    """The public square root the old hash-derived bases had: s = u_s^2, u_s = H(n, "s")."""
    tag = b"deepchain/ring-pedersen-bases/v1"
    stream = b"".join(
        hashlib.sha256(tag + b"s" + n.to_bytes(1024, "big") + bytes([0, k])).digest()
        for k in range(-(-(n.bit_length() + 128) // 256))
    )
    return int.from_bytes(stream, "big") % n


# -- the half-exponent opening ------------------------------------------------------------------
def half_exponent_proof_pk(pk, ctx, B, A, alpha, u, rng, position=(0, 1)):
    """The malicious prover: c = Enc(A/2 mod n), S = u^A t^mu, retry until e is even,
    z1 = x + (e/2) A. Returns (c, proof, tries, paillier_equation_holds)."""
    n, n2 = pk.n, pk.n2
    rp = pk.ring_pedersen
    N = rp.N_hat
    M = A * pow(2, -1, n) % n
    c = pk.encrypt(M, alpha)
    mu = rng.getrandbits(ALPHA)
    S = pow(u, A, N) * pow(rp.t, mu, N) % N
    total = B + K_BITS + KAPPA
    for tries in range(1, 200):
        x = rng.getrandbits(total - 1)
        y = rng.getrandbits(ALPHA + K_BITS + KAPPA)
        gamma = rng.getrandbits(ALPHA + K_BITS + KAPPA)
        a = (1 + x * n) * pow(pk.h_s, y, n2) % n2
        C = pow(rp.s, x, N) * pow(rp.t, gamma, N) % N
        e = pk_challenge(pk, ctx, B, position, c, a, S, C)
        if e % 2:
            continue
        z1 = x + (e // 2) * A
        proof = ProofPK(a=a, e=e, z1=z1, z2=y + e * alpha, S=S, C=C, z3=gamma + e * mu)
        lhs = (1 + z1 * n) * pow(pk.h_s, proof.z2, n2) % n2
        return c, proof, tries, lhs == a * pow(c, e, n2) % n2 and z1 < 1 << total
    raise AssertionError("no even challenge in 200 tries")


def test_the_half_exponent_opening_is_accepted_when_a_root_of_s_is_known(leaky, scheme):
    """Control: the attack is real. A prover who knows u with u^2 = s gets a Proof_PK for
    M = A/2 mod n (an |n|-bit plaintext, far outside 2^(B+K+KAPPA)) accepted."""
    bad_pk, u = leaky
    B = scheme.plaintext_bits
    ctx = ctx_of(bad_pk)
    rng = random.Random(1)
    A = rng.getrandbits(B) | 1
    c, proof, tries, _ = half_exponent_proof_pk(bad_pk, ctx, B, A, 7, u, rng)
    assert tries <= 20
    assert (A * pow(2, -1, bad_pk.n) % bad_pk.n).bit_length() > B + K_BITS + KAPPA
    assert verify_pk(bad_pk, c, proof, B, ctx=ctx)


@pytest.mark.parametrize("root", ["legacy", "s", "random"])
def test_it_rejects_the_half_exponent_opening_of_proof_pk(pk, scheme, root):
    """Against the key's own ring-Pedersen parameters the same prover has no square root of s:
    its best public guesses (the old hash-derived root, s itself, a random unit) give a proof
    whose range and Paillier equation hold, and which the verifier rejects."""
    rp = pk.ring_pedersen
    u = {"legacy": legacy_root(pk.n), "s": rp.s, "random": random.Random(3).randrange(2, pk.n)}[
        root
    ]
    assert u * u % rp.N_hat != rp.s
    B = scheme.plaintext_bits
    ctx = ctx_of(pk)
    rng = random.Random(2)
    A = rng.getrandbits(B) | 1
    c, proof, _, paillier_and_range_ok = half_exponent_proof_pk(pk, ctx, B, A, 9, u, rng)
    assert paillier_and_range_ok  # only the integer commitment stands in the way
    assert not verify_pk(pk, c, proof, B, ctx=ctx)


def half_exponent_batch(pk, scheme, ctx, As, alphas, u, rng):
    """The batched version: every M_j = A_j/2 mod n; S_i = u^(sum_j rho_ij A_j) t^mu_i; retry
    until sum_i w_i A^_i is even; z1 = x + (sum_i w_i A^_i) / 2."""
    n, n2 = pk.n, pk.n2
    rp = pk.ring_pedersen
    N = rp.N_hat
    B, L = scheme.plaintext_bits, scheme.batch_log
    T = B + L + K_BITS + LOG_R + KAPPA
    inv2 = pow(2, -1, n)
    cs = [pk.encrypt(A * inv2 % n, al) for A, al in zip(As, alphas, strict=True)]
    tr = batch_transcript(pk, ctx, B, L, cs)
    rhos = batch_rho(tr, len(cs))
    rows = [[(rho >> i) & 1 for rho in rhos] for i in range(BATCH_R)]
    A_hat = [sum(b * A for b, A in zip(row, As, strict=True)) for row in rows]
    al_hat = [sum(b * al for b, al in zip(row, alphas, strict=True)) for row in rows]
    mus = [rng.getrandbits(ALPHA) for _ in rows]
    S = tuple(pow(u, ah, N) * pow(rp.t, mu, N) % N for ah, mu in zip(A_hat, mus, strict=True))
    for _ in range(200):
        x = rng.getrandbits(T - 1)
        y = rng.getrandbits(ALPHA + L + K_BITS + LOG_R + KAPPA)
        gamma = rng.getrandbits(ALPHA + K_BITS + LOG_R + KAPPA)
        a = (1 + x * n) * pow(pk.h_s, y, n2) % n2
        D = pow(rp.s, x, N) * pow(rp.t, gamma, N) % N
        w = batch_w(tr, S, a, D)
        total = sum(wi * ah for wi, ah in zip(w, A_hat, strict=True))
        if total % 2:
            continue
        z1 = x + total // 2
        z2 = y + sum(wi * ah for wi, ah in zip(w, al_hat, strict=True))
        z3 = gamma + sum(wi * mu for wi, mu in zip(w, mus, strict=True))
        rhs = a
        for row, wi in zip(rows, w, strict=True):
            rhs = rhs * gmpy2.powmod(_row_product(cs, row, n2), wi, n2) % n2
        paillier_ok = (1 + z1 * n) * pow(pk.h_s, z2, n2) % n2 == rhs and z1 < 1 << T
        return cs, BatchProofPK(S=S, a=a, D=D, z1=z1, z2=z2, z3=z3), paillier_ok
    raise AssertionError("no even weighted sum in 200 tries")


def _row_product(cs, row, n2):
    acc = 1
    for b, c in zip(row, cs, strict=True):
        if b:
            acc = acc * c % n2
    return acc


def _update_of(cs, proof, scheme):
    return EncryptedUpdate(cs, [], len(cs) * scheme.slots_per_ciphertext, batch_proof=proof)


def test_the_batched_half_exponent_opening_is_accepted_when_a_root_of_s_is_known(leaky, scheme):
    bad_pk, u = leaky
    rng = random.Random(4)
    B = scheme.plaintext_bits
    As = [rng.getrandbits(B) | 1 for _ in range(5)]
    alphas = [rng.getrandbits(ALPHA) for _ in As]
    ctx = ctx_of(bad_pk)
    cs, proof, _ = half_exponent_batch(bad_pk, scheme, ctx, As, alphas, u, rng)
    assert verify_update(bad_pk, scheme, _update_of(cs, proof, scheme), ctx=ctx)


@pytest.mark.parametrize("root", ["legacy", "s"])
def test_it_rejects_the_batched_half_exponent_opening(pk, scheme, root):
    rp = pk.ring_pedersen
    u = legacy_root(pk.n) if root == "legacy" else rp.s
    rng = random.Random(5)
    B = scheme.plaintext_bits
    As = [rng.getrandbits(B) | 1 for _ in range(5)]
    alphas = [rng.getrandbits(ALPHA) for _ in As]
    ctx = ctx_of(pk)
    cs, proof, paillier_ok = half_exponent_batch(pk, scheme, ctx, As, alphas, u, rng)
    assert paillier_ok
    assert not verify_update(pk, scheme, _update_of(cs, proof, scheme), ctx=ctx)
    assert not verify_update_proof(pk, scheme, cs, proof, ctx=ctx)


# -- Pi^prm ------------------------------------------------------------------------------------
def test_the_keys_ring_pedersen_parameters_carry_a_valid_pi_prm(pk):
    rp = pk.ring_pedersen
    assert rp is not None and rp.N_hat == pk.n and len(rp.A) == PRM_M
    assert verify_prm(rp, key_ceremony_context(pk))
    assert ThresholdPublicKey.from_json(pk.to_json()) == pk


@pytest.mark.parametrize("field", ["s", "t", "A", "z"])
def test_it_rejects_tampered_ring_pedersen_parameters(pk, scheme, field):
    rp = pk.ring_pedersen
    change = {
        "s": {"s": rp.s * 4 % rp.N_hat},
        "t": {"t": rp.t * 4 % rp.N_hat},
        "A": {"A": (rp.A[0] * 4 % rp.N_hat, *rp.A[1:])},
        "z": {"z": (rp.z[0] + 1, *rp.z[1:])},
    }[field]
    bad_rp = dataclasses.replace(rp, **change)
    bad = dataclasses.replace(pk, ring_pedersen=bad_rp)
    assert not verify_prm(bad_rp, key_ceremony_context(bad))
    assert ring_pedersen_bases(bad) is None
    ctx = ctx_of(bad)
    q = np.arange(-5, 5, dtype=np.int64)
    with pytest.raises(ValueError, match="Pi\\^prm"):
        encrypt_update(bad, scheme, q, ctx=ctx)  # an honest prover refuses such parameters
    honest = encrypt_update(pk, scheme, q, ctx=ctx_of(pk))
    assert not verify_update(bad, scheme, honest, ctx=ctx)


def test_a_key_holder_who_cannot_prove_s_in_t_is_caught(pk):
    """s = -t, which is not a square (n is a Blum integer), so not in <t>: the forger guesses
    each challenge bit g_i (A_i = t^z_i / s^g_i); all m guesses must be right."""
    rp = pk.ring_pedersen
    N = rp.N_hat
    s = (-rp.t) % N
    rng = random.Random(6)
    guess = [rng.getrandbits(1) for _ in range(PRM_M)]
    z = tuple(rng.randrange(N) for _ in range(PRM_M))
    A = tuple(
        pow(rp.t, zi, N) * (pow(s, -1, N) if g else 1) % N for zi, g in zip(z, guess, strict=True)
    )
    forged = dataclasses.replace(rp, s=s, A=A, z=z)
    e = prm_challenge((N, s, rp.t), A, key_ceremony_context(pk))
    right = sum(((e >> i) & 1) == g for i, g in enumerate(guess))
    assert 0 < right < PRM_M  # the rounds it guessed right do pass: the forger is real
    assert not verify_prm(forged, key_ceremony_context(pk))


def test_pi_prm_is_bound_to_its_key(pk, keys):
    other = generate_threshold_keypair(512, 3, 2, rng=random.Random(43))[0]
    moved = dataclasses.replace(other, ring_pedersen=pk.ring_pedersen)
    assert not verify_prm(pk.ring_pedersen, key_ceremony_context(moved))
    assert ring_pedersen_bases(moved) is None


def test_a_key_without_ring_pedersen_parameters_carries_no_proof_pk(pk, scheme):
    bare = dataclasses.replace(pk, ring_pedersen=None)
    B = scheme.plaintext_bits
    with pytest.raises(ValueError):
        prove_pk(bare, bare.encrypt(1, 5), 1, 5, B, ctx=ctx_of(bare))
    c = pk.encrypt(1, 5)
    proof = prove_pk(pk, c, 1, 5, B, ctx=ctx_of(pk))
    assert not verify_pk(bare, c, proof, B, ctx=ctx_of(bare))


def test_a_malformed_ring_pedersen_field_is_a_format_error(pk):
    d = pk.to_json()
    d["ring_pedersen"] = {**d["ring_pedersen"], "A": d["ring_pedersen"]["A"][:-1]}
    with pytest.raises(CryptoFormatError):
        ThresholdPublicKey.from_json(d)


# -- context binding ---------------------------------------------------------------------------
REPLAYS = {
    "another round": {"round_no": 2},
    "another group": {"group": "co-other"},
    "another party index": {"index": 2},
    "another address": {"address": "addr-x"},
    "another phase": {"phase": "decryption_share"},
}


@pytest.fixture(scope="module")
def updates(pk, scheme):
    """Party 1's and party 2's honest updates of the same round, batched and per ciphertext."""
    rng = np.random.default_rng(7)
    q1, q2 = (rng.integers(-1000, 1000, 3 * scheme.slots_per_ciphertext) for _ in range(2))
    out = {}
    for mode in ("batch", "each"):
        out[mode] = tuple(
            encrypt_update(pk, scheme, q, rng=random.Random(i), ctx=ctx_of(pk, i), proof_mode=mode)
            for i, q in ((1, q1), (2, q2))
        )
    return out


@pytest.mark.parametrize("mode", ["batch", "each"])
def test_honest_updates_verify_in_their_own_context(pk, scheme, updates, mode):
    u1, u2 = updates[mode]
    assert verify_update(pk, scheme, u1, ctx=ctx_of(pk, 1))
    assert verify_update(pk, scheme, u2, ctx=ctx_of(pk, 2))


@pytest.mark.parametrize("mode", ["batch", "each"])
@pytest.mark.parametrize("replay", sorted(REPLAYS))
def test_it_rejects_an_update_replayed_into_another_context(pk, scheme, updates, mode, replay):
    u1, _ = updates[mode]
    kw = {"index": 1, **REPLAYS[replay]}
    assert not verify_update(pk, scheme, u1, ctx=ctx_of(pk, **kw))


@pytest.mark.parametrize("mode", ["batch", "each"])
def test_it_rejects_an_update_blob_resubmitted_by_another_party(pk, scheme, updates, mode):
    u1, _ = updates[mode]
    copied = EncryptedUpdate.from_bytes(u1.to_bytes(pk), pk)  # party 2 posts party 1's blob
    assert not verify_update(pk, scheme, copied, ctx=ctx_of(pk, 2))


def test_it_rejects_an_update_spliced_from_two_parties_ciphertexts(pk, scheme, updates):
    """Per-ciphertext mode: each proof is valid where it came from; the splice is not."""
    u1, u2 = updates["each"]
    cts = [u1.ciphertexts[0], *u2.ciphertexts[1:]]
    prs = [u1.proofs[0], *u2.proofs[1:]]
    spliced = EncryptedUpdate(cts, prs, u1.length)
    assert not verify_update(pk, scheme, spliced, ctx=ctx_of(pk, 1))
    assert not verify_update(pk, scheme, spliced, ctx=ctx_of(pk, 2))


def test_it_rejects_per_ciphertext_proofs_moved_to_other_positions(pk, scheme, updates):
    u1, _ = updates["each"]
    cts, prs = list(u1.ciphertexts), list(u1.proofs)
    cts[0], cts[1], prs[0], prs[1] = cts[1], cts[0], prs[1], prs[0]
    moved = EncryptedUpdate(cts, prs, u1.length)
    assert not verify_update(pk, scheme, moved, ctx=ctx_of(pk, 1))
    truncated = EncryptedUpdate(u1.ciphertexts[:2], u1.proofs[:2], 2 * scheme.slots_per_ciphertext)
    assert not verify_update(pk, scheme, truncated, ctx=ctx_of(pk, 1))


def test_it_rejects_an_update_proven_for_another_key(pk, scheme, updates):
    other = generate_threshold_keypair(512, 3, 2, rng=random.Random(44))[0]
    u1, _ = updates["batch"]
    wrong_fp = dataclasses.replace(ctx_of(pk, 1), pk_fingerprint=other.fingerprint())
    assert not verify_update(pk, scheme, u1, ctx=wrong_fp)


@pytest.mark.parametrize("replay", ["another round", "another group", "another address"])
def test_it_rejects_a_decryption_share_replayed_into_another_context(keys, replay, updates):
    pk, shares = keys
    agg = updates["batch"][0].ciphertexts
    base = {"index": 2, "phase": "decryption_share"}
    ds = decryption_share(pk, shares[1], agg, rng=random.Random(8), ctx=ctx_of(pk, **base))
    assert verify_decryption_share(pk, agg, ds, ctx=ctx_of(pk, **base))
    assert not verify_decryption_share(pk, agg, ds, ctx=ctx_of(pk, **{**base, **REPLAYS[replay]}))


def test_proof_cd_refuses_a_context_for_another_index(keys):
    pk, shares = keys
    c = pk.encrypt(3)
    with pytest.raises(ValueError, match="index"):
        prove_cd(pk, shares[0], [c], [partial_decrypt(pk, shares[0], c)], ctx=ctx_of(pk, 2))


# -- the transcript ----------------------------------------------------------------------------
items = st.lists(st.tuples(st.text(max_size=4), st.binary(max_size=6)), max_size=4)


@settings(max_examples=200, deadline=None)
@given(a=items, b=items)
def test_transcript_encoding_is_injective(a, b):
    ctx = ProofContext("fp", "g", 1, "p", 1, "x")

    def digest(xs):
        tr = Transcript("tag", ctx)
        for label, value in xs:
            tr.bytes(label, value)
        return tr.digest()

    assert (digest(a) == digest(b)) == (a == b)


fields = st.fixed_dictionaries(
    {
        "pk_fingerprint": st.sampled_from(["fa", "fb"]),
        "group": st.sampled_from(["g", "g1", ""]),
        "round": st.integers(0, 3),
        "phase": st.sampled_from(["gradient_submission", "decryption_share"]),
        "party_index": st.integers(0, 3),
        "party_address": st.sampled_from(["a", "b", "ab"]),
    }
)


@settings(max_examples=200, deadline=None)
@given(x=fields, y=fields)
def test_every_context_field_changes_the_challenge(x, y):
    cx, cy = ProofContext(**x), ProofContext(**y)
    ex = Transcript("t", cx).int("c", 5).challenge(128)
    ey = Transcript("t", cy).int("c", 5).challenge(128)
    assert (ex == ey) == (x == y)
