"""Asset statement (paper 4.2.3): tags over BLS12-381 and pairing-checked possession proofs."""

from __future__ import annotations

import random

import pytest
from py_arkworks_bls12381 import G1Point, G2Point, Scalar

from deepchain.crypto.assets import (
    DST_H2,
    H1,
    H2,
    AssetStatement,
    PossessionProof,
    R,
    challenge,
    check_tags,
    make_asset_statement,
    prove_possession,
    verify_possession,
)

BLOCKS = [bytes(random.Random(i).randbytes(64 + 7 * i)) for i in range(10)]
MODES = ["paper", "sectors"]


@pytest.fixture(scope="module", params=MODES)
def asset(request):
    return make_asset_statement(BLOCKS, ["mnist", "digits"], random.Random(1), mode=request.param)


def test_hash_to_curve_is_rfc9380_and_h1_lands_in_the_scalar_field():
    # RFC 9380, appendix J.9.1, suite BLS12381G1_XMD:SHA-256_SSWU_RO_, msg "abc": P.x
    p = G1Point.hash_to_curve(b"abc", b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_")
    assert p.to_compressed_bytes().hex() == (
        "83567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3a"
        "ee664ba5379a7655d3c68900be2f6903"
    )
    assert 0 <= H1(b"x") < R and H1(b"x") != H1(b"x", b"block") and H1(b"x") != H1(b"y")
    assert H2(b"n", 1) != H2(b"n", 2) and H2(b"n", 1) != H2(b"m", 1)
    assert DST_H2.endswith(b"_BLS12381G1_XMD:SHA-256_SSWU_RO_")


def test_the_statement_matches_the_papers_formulas():
    stmt, secret = make_asset_statement(BLOCKS, ["k"], random.Random(5))
    x = H1(b"".join([len(BLOCKS).to_bytes(8, "big")] + [
        len(b).to_bytes(8, "big") + b for b in BLOCKS
    ]), b"data")  # fmt: skip
    assert secret.x == x and stmt.pk_data == G2Point() * Scalar(x)  # pk_data = g^H1(data)
    j = 3
    expected = (H2(stmt.name, j) + G1Point() * Scalar(H1(BLOCKS[j], b"block"))) * Scalar(x)
    assert stmt.tags[j] == expected  # sigma_j = (H2(j) g^H1(data_j))^H1(data)
    assert stmt.n_blocks == 10 and stmt.keywords == ("k",)


def test_an_honest_prover_convinces_a_verifier_without_the_data(asset):
    stmt, _ = asset
    public = AssetStatement.from_json(stmt.to_json())  # all the verifier has
    for seed in range(3):
        q = challenge(public, 4, random.Random(seed))
        assert len({j for j, _ in q}) == 4
        proof = prove_possession(stmt, BLOCKS, q)
        assert verify_possession(public, q, PossessionProof.from_json(proof.to_json()))
    assert check_tags(stmt, BLOCKS, random.Random(9))


def test_wrong_data_fails(asset):
    stmt, _ = asset
    q = challenge(stmt, 3, random.Random(2))
    j = q[1][0]
    bad = list(BLOCKS)
    bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
    assert not verify_possession(stmt, q, prove_possession(stmt, bad, q))
    assert not check_tags(stmt, bad, random.Random(3))


def test_answering_with_another_block_fails(asset):
    stmt, _ = asset
    q = [(2, 12345), (5, 678)]
    swapped = list(BLOCKS)
    swapped[2], swapped[5] = BLOCKS[5], BLOCKS[2]
    assert not verify_possession(stmt, q, prove_possession(stmt, swapped, q))
    good = prove_possession(stmt, BLOCKS, q)
    assert verify_possession(stmt, q, good)
    assert not verify_possession(stmt, [(2, 12345), (6, 678)], good)  # proof for other blocks
    assert not verify_possession(stmt, [(2, 12345), (5, 679)], good)  # other coefficients


def test_a_tampered_tag_fails(asset):
    stmt, _ = asset
    tags = list(stmt.tags)
    tags[4] = tags[4] + G1Point()
    forged = AssetStatement(
        stmt.keywords, stmt.n_blocks, stmt.name, stmt.pk_data, tuple(tags), stmt.mode,
        stmt.n_sectors,
    )  # fmt: skip
    q = [(1, 3), (4, 5)]
    assert not verify_possession(forged, q, prove_possession(forged, BLOCKS, q))
    assert not check_tags(forged, BLOCKS, random.Random(1))
    assert verify_possession(forged, [(1, 3)], prove_possession(forged, BLOCKS, [(1, 3)]))


def test_a_tampered_proof_or_malformed_challenge_is_rejected(asset):
    stmt, _ = asset
    q = [(0, 11), (7, 13)]
    proof = prove_possession(stmt, BLOCKS, q)
    bumped = PossessionProof(proof.sigma, ((proof.mu[0] + 1) % R, *proof.mu[1:]))
    assert not verify_possession(stmt, q, bumped)
    assert not verify_possession(stmt, q, PossessionProof(proof.sigma + G1Point(), proof.mu))
    assert not verify_possession(stmt, q, PossessionProof(proof.sigma, (*proof.mu, 0)))
    assert not verify_possession(stmt, [(0, 11), (0, 11)], proof)
    assert not verify_possession(stmt, [(0, 0), (7, 13)], proof)
    assert not verify_possession(stmt, [(99, 1)], proof)
    assert not verify_possession(stmt, [], proof)


def test_a_statement_with_the_identity_key_verifies_nothing():
    stmt, _ = make_asset_statement(BLOCKS[:2], [], random.Random(3))
    fake = AssetStatement(
        (), 2, stmt.name, G2Point.identity(), (G1Point.identity(),) * 2
    )  # fmt: skip
    q = [(0, 1)]
    assert not verify_possession(fake, q, PossessionProof(G1Point.identity(), (5,)))


def test_sector_mode_proves_the_bytes_not_only_their_digest():
    stmt, _ = make_asset_statement(BLOCKS, [], random.Random(4), mode="sectors")
    assert stmt.n_sectors == 1 + (len(BLOCKS[-1]) + 30) // 31
    q = challenge(stmt, 2, random.Random(8))
    proof = prove_possession(stmt, BLOCKS, q)
    assert len(proof.mu) == stmt.n_sectors and verify_possession(stmt, q, proof)
    padded = list(BLOCKS)
    padded[q[0][0]] = BLOCKS[q[0][0]] + b"\x00"  # same chunks, different length
    assert not verify_possession(stmt, q, prove_possession(stmt, padded, q))


def test_statements_are_deterministic_given_the_rng():
    a, _ = make_asset_statement(BLOCKS, ["k"], random.Random(11))
    b, _ = make_asset_statement(BLOCKS, ["k"], random.Random(11))
    c, _ = make_asset_statement(BLOCKS, ["k"], random.Random(12))
    assert a.to_json() == b.to_json() and a.statement_id == b.statement_id
    assert a.name != c.name and a.tags != c.tags and a.pk_data == c.pk_data


def test_one_tag_and_its_pairing_identity_agree_with_py_ecc():
    oracle = pytest.importorskip("py_ecc.optimized_bls12_381")
    pc = pytest.importorskip("py_ecc.bls.point_compression")
    stmt, secret = make_asset_statement(BLOCKS[:3], [], random.Random(6))
    j = 1
    h = pc.decompress_G1(int.from_bytes(H2(stmt.name, j).to_compressed_bytes(), "big"))
    base = oracle.add(h, oracle.multiply(oracle.G1, H1(BLOCKS[j], b"block")))
    sigma = oracle.multiply(base, secret.x)
    assert pc.compress_G1(sigma) == int.from_bytes(stmt.tags[j].to_compressed_bytes(), "big")
    pk = oracle.multiply(oracle.G2, secret.x)
    z1, z2 = pc.compress_G2(pk)
    assert z1.to_bytes(48, "big") + z2.to_bytes(48, "big") == stmt.pk_data.to_compressed_bytes()
    # e(sigma_j, g2) == e(H2(j) g1^m_j, pk_data), computed independently by py_ecc
    assert oracle.pairing(oracle.G2, sigma) == oracle.pairing(pk, base)
