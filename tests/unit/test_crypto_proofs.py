"""Proof_PK and Proof_CD: honest provers verify, every tampered field is rejected."""

from __future__ import annotations

import dataclasses
import random

import pytest

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair, partial_decrypt
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.zk.proof_cd import ProofCD, prove_cd, verify_cd
from deepchain.crypto.zk.proof_pk import ProofPK, prove_pk, verify_pk
from tests.proofctx import grad_ctx, share_ctx


@pytest.fixture(scope="module")
def keys():
    return generate_threshold_keypair(512, 4, 2, rng=random.Random(11))


@pytest.fixture(scope="module")
def B(keys):
    return PackingScheme(512, N_max=4).plaintext_bits


@pytest.fixture(scope="module")
def pk_statement(keys, B):
    pk, _ = keys
    rng = random.Random(12)
    m, alpha = (1 << B) - 1, rng.getrandbits(448)
    c = pk.encrypt(m, alpha)
    return c, m, alpha, prove_pk(pk, c, m, alpha, B, rng, ctx=grad_ctx(pk))


def test_honest_proof_pk_verifies(keys, B, pk_statement):
    pk, _ = keys
    c, _, _, proof = pk_statement
    assert verify_pk(pk, c, proof, B, ctx=grad_ctx(pk))


def test_proof_pk_is_deterministic_under_an_injected_rng(keys, B, pk_statement):
    pk, _ = keys
    c, m, alpha, _ = pk_statement
    p1 = prove_pk(pk, c, m, alpha, B, random.Random(1), ctx=grad_ctx(pk))
    assert p1 == prove_pk(pk, c, m, alpha, B, random.Random(1), ctx=grad_ctx(pk))


@pytest.mark.parametrize("field", ["a", "e", "z1", "z2", "S", "C", "z3"])
def test_proof_pk_rejects_a_tampered_field(keys, B, pk_statement, field):
    pk, _ = keys
    c, _, _, proof = pk_statement
    bad = dataclasses.replace(proof, **{field: getattr(proof, field) + 1})
    assert not verify_pk(pk, c, bad, B, ctx=grad_ctx(pk))


def test_proof_pk_rejects_another_ciphertext(keys, B, pk_statement):
    pk, _ = keys
    c, _, _, proof = pk_statement
    assert not verify_pk(pk, c * pk.h_s % pk.n2, proof, B, ctx=grad_ctx(pk))


def test_proof_pk_rejects_a_different_bound(keys, B, pk_statement):
    pk, _ = keys
    c, _, _, proof = pk_statement
    assert not verify_pk(pk, c, proof, B - 1, ctx=grad_ctx(pk))


def test_prover_refuses_out_of_bound_plaintext(keys, B):
    pk, _ = keys
    with pytest.raises(ValueError):
        prove_pk(pk, pk.encrypt(1 << B, 5), 1 << B, 5, B, ctx=grad_ctx(pk))


def test_proof_pk_cannot_be_forged_for_a_wrapping_plaintext(keys, B):
    """M = 1/2 mod n would wrap the aggregate. For even e, z1 = (x + e M) mod n = x + e/2 is
    small and satisfies the Paillier equation (this forgery passes PROTOCOL.md's original
    mod-n check), but not the ring-Pedersen equation over the integers."""
    pk, _ = keys
    from deepchain.crypto.zk.proof_pk import pk_challenge
    from deepchain.crypto.zk.sigma import ring_pedersen_bases

    m, alpha = (pk.n + 1) // 2, 9
    c = pk.encrypt(m, alpha)
    rp = ring_pedersen_bases(pk)
    s_, t_, N = int(rp.s.base), int(rp.t.base), rp.N_hat
    rng = random.Random(5)
    total = B + 128 + 40
    tried = 0
    while tried < 3:
        x, y = rng.getrandbits(total), rng.getrandbits(616)
        mu, gamma = rng.getrandbits(448), rng.getrandbits(448 + 128 + 40)
        S = pow(s_, m, N) * pow(t_, mu, N) % N
        a = (1 + x * pk.n) * pow(pk.h_s, y, pk.n2) % pk.n2
        C = pow(s_, x, N) * pow(t_, gamma, N) % N
        e = pk_challenge(pk, grad_ctx(pk), B, (0, 1), c, a, int(S), int(C))
        z1 = (x + e * m) % pk.n
        if z1 >= 1 << total:
            continue  # odd e: the forger grinds Fiat-Shamir until e is even
        tried += 1
        lhs = (1 + z1 * pk.n) * pow(pk.h_s, y + e * alpha, pk.n2) % pk.n2
        assert lhs == a * pow(c, e, pk.n2) % pk.n2  # the old check alone would accept
        forged = ProofPK(a=a, e=e, z1=z1, z2=y + e * alpha, S=int(S), C=int(C), z3=gamma + e * mu)
        assert not verify_pk(pk, c, forged, B, ctx=grad_ctx(pk))


def test_proof_pk_serialization_round_trips_and_rejects_garbage(pk_statement):
    proof = pk_statement[3]
    assert ProofPK.from_json(proof.to_json()) == proof
    assert ProofPK.from_bytes(proof.to_bytes()) == proof
    with pytest.raises(CryptoFormatError):
        ProofPK.from_json(proof.to_json() | {"version": 9})
    with pytest.raises(CryptoFormatError):
        ProofPK.from_json(proof.to_json() | {"e": format(1 << 200, "x")})
    with pytest.raises(CryptoFormatError):
        ProofPK.from_bytes(proof.to_bytes()[:-1])
    with pytest.raises(CryptoFormatError):
        ProofPK.from_bytes(proof.to_bytes() + b"\0")


# -- Proof_CD --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cd_statement(keys):
    pk, shares = keys
    cs = [pk.encrypt(m) for m in (1, 2, 3, 4, 5)]
    share = shares[1]
    c_is = [partial_decrypt(pk, share, c) for c in cs]
    return cs, c_is, prove_cd(pk, share, cs, c_is, random.Random(13), ctx=share_ctx(pk, 2))


def test_honest_proof_cd_verifies(keys, cd_statement):
    pk, _ = keys
    cs, c_is, proof = cd_statement
    assert verify_cd(pk, 2, cs, c_is, proof, ctx=share_ctx(pk, 2))


@pytest.mark.parametrize("field", ["a", "b", "e", "z"])
def test_proof_cd_rejects_a_tampered_field(keys, cd_statement, field):
    pk, _ = keys
    cs, c_is, proof = cd_statement
    bad = dataclasses.replace(proof, **{field: getattr(proof, field) + 1})
    assert not verify_cd(pk, 2, cs, c_is, bad, ctx=share_ctx(pk, 2))


def test_proof_cd_rejects_one_wrong_share_in_the_vector(keys, cd_statement):
    pk, shares = keys
    cs, c_is, _ = cd_statement
    bad = list(c_is)
    bad[3] = bad[3] * pk.v % pk.n2
    assert not verify_cd(
        pk, 2, cs, bad, prove_cd(pk, shares[1], cs, bad, ctx=share_ctx(pk, 2)), ctx=share_ctx(pk, 2)
    )


def test_proof_cd_rejects_the_wrong_party_index_or_vector(keys, cd_statement):
    pk, _ = keys
    cs, c_is, proof = cd_statement
    assert not verify_cd(pk, 1, cs, c_is, proof, ctx=share_ctx(pk, 1))
    assert not verify_cd(pk, 2, cs[::-1], c_is[::-1], proof, ctx=share_ctx(pk, 2))
    assert not verify_cd(pk, 2, cs[:-1], c_is[:-1], proof, ctx=share_ctx(pk, 2))
    assert not verify_cd(pk, 9, cs, c_is, proof, ctx=share_ctx(pk, 9))


def test_proof_cd_with_another_share_is_rejected(keys, cd_statement):
    pk, shares = keys
    cs, _, _ = cd_statement
    c_is = [partial_decrypt(pk, shares[0], c) for c in cs]  # share 1's values claimed as 2's
    proof = prove_cd(pk, shares[0], cs, c_is, ctx=share_ctx(pk, 1))
    assert verify_cd(pk, 1, cs, c_is, proof, ctx=share_ctx(pk, 1))
    assert not verify_cd(pk, 2, cs, c_is, proof, ctx=share_ctx(pk, 2))


def test_proof_cd_serialization_round_trips(cd_statement):
    proof = cd_statement[2]
    assert ProofCD.from_json(proof.to_json()) == proof
    assert ProofCD.from_bytes(proof.to_bytes()) == proof
    with pytest.raises(CryptoFormatError):
        ProofCD.from_json({k: v for k, v in proof.to_json().items() if k != "z"})
