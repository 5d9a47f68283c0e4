"""End to end: encrypt packed updates, verify, aggregate, t-of-N decryption shares, combine."""

from __future__ import annotations

import dataclasses
import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.vector import (
    DecryptionShare,
    EncryptedUpdate,
    aggregate,
    combine_vector,
    decryption_share,
    encrypt_update,
    verify_decryption_share,
    verify_update,
)
from tests.proofctx import grad_ctx, share_ctx

#: every test runs on the native modexp kernel and on gmpy2 (DEEPCHAIN_NATIVE=0)
pytestmark = pytest.mark.usefixtures("modexp_backend")

N_PARTIES, T = 4, 2


@pytest.fixture(scope="module")
def keys():
    return generate_threshold_keypair(512, N_PARTIES, T, rng=random.Random(21))


@pytest.fixture(scope="module")
def other_keys():
    return generate_threshold_keypair(512, N_PARTIES, T, rng=random.Random(22))


@pytest.fixture(scope="module")
def scheme():
    return PackingScheme(512, N_max=8)


@pytest.fixture(scope="module")
def round_(keys, scheme):
    """Three parties' updates of 40 values, their aggregate, and all four decryption shares."""
    pk, shares = keys
    rng = np.random.default_rng(0)
    qs = [rng.integers(-(2**16) + 1, 2**16, 40) for _ in range(3)]
    ups = [
        encrypt_update(pk, scheme, q, rng=random.Random(k), ctx=grad_ctx(pk))
        for k, q in enumerate(qs)
    ]
    agg = aggregate(pk, [u.ciphertexts for u in ups])
    dss = [decryption_share(pk, s, agg, ctx=share_ctx(pk, s.i)) for s in shares]
    return qs, ups, agg, dss


@settings(max_examples=6, deadline=None)
@given(
    data=st.data(),
    length=st.integers(1, 40),
    parties=st.integers(1, 4),
)
def test_any_t_subset_recovers_the_exact_elementwise_sum(keys, scheme, data, length, parties):
    pk, shares = keys
    qs = [
        np.array(
            data.draw(
                st.lists(st.integers(-(2**16) + 1, 2**16 - 1), min_size=length, max_size=length)
            ),
            dtype=np.int64,
        )
        for _ in range(parties)
    ]
    ups = [encrypt_update(pk, scheme, q, prove=False, ctx=grad_ctx(pk)) for q in qs]
    agg = aggregate(pk, [u.ciphertexts for u in ups])
    subset = data.draw(st.sampled_from(list(itertools.combinations(shares, T))))
    dss = [decryption_share(pk, s, agg, ctx=share_ctx(pk, s.i)) for s in subset]
    assert all(verify_decryption_share(pk, agg, d, ctx=share_ctx(pk, d.i)) for d in dss)
    pts = combine_vector(pk, dss)
    assert scheme.unpack(pts, length, parties).tolist() == np.sum(qs, axis=0).tolist()


def test_every_t_subset_of_a_real_round_agrees(keys, scheme, round_):
    pk, _ = keys
    qs, _, agg, dss = round_
    expected = np.sum(qs, axis=0).tolist()
    for S in itertools.combinations(dss, T):
        assert scheme.unpack(combine_vector(pk, list(S)), 40, 3).tolist() == expected
    # more than t shares: uses t of them
    assert scheme.unpack(combine_vector(pk, dss), 40, 3).tolist() == expected


def test_honest_updates_and_shares_verify(keys, scheme, round_):
    pk, _ = keys
    _, ups, agg, dss = round_
    assert all(verify_update(pk, scheme, u, ctx=grad_ctx(pk)) for u in ups)
    assert all(verify_decryption_share(pk, agg, d, ctx=share_ctx(pk, d.i)) for d in dss)


@pytest.fixture(scope="module")
def each_update(keys, scheme, round_):
    """The first party's vector with one Proof_PK per ciphertext."""
    pk, _ = keys
    return encrypt_update(
        pk, scheme, round_[0][0], rng=random.Random(5), proof_mode="each", ctx=grad_ctx(pk)
    )


def test_updates_carry_one_batch_proof_by_default_or_one_proof_per_ciphertext(
    keys, scheme, round_, each_update
):
    pk, _ = keys
    u = round_[1][0]
    assert u.batch_proof is not None and u.proofs == []
    assert each_update.batch_proof is None
    assert len(each_update.proofs) == len(each_update.ciphertexts) == 3
    assert verify_update(pk, scheme, each_update, ctx=grad_ctx(pk))
    with pytest.raises(ValueError):
        encrypt_update(pk, scheme, round_[0][0], proof_mode="some", ctx=grad_ctx(pk))


def test_a_batch_proof_must_come_alone_and_match_its_vector(keys, scheme, round_, each_update):
    pk, _ = keys
    u = round_[1][0]
    assert not verify_update(
        pk, scheme, dataclasses.replace(u, proofs=each_update.proofs), ctx=grad_ctx(pk)
    )
    other = round_[1][1]  # another party's proof on this party's ciphertexts
    assert not verify_update(
        pk, scheme, dataclasses.replace(u, batch_proof=other.batch_proof), ctx=grad_ctx(pk)
    )
    assert not verify_update(pk, scheme, dataclasses.replace(u, batch_proof=None), ctx=grad_ctx(pk))


def test_process_pool_gives_the_same_results(keys, scheme, round_):
    pk, shares = keys
    qs, ups, agg, _ = round_
    up = encrypt_update(pk, scheme, qs[0], rng=random.Random(0), processes=2, ctx=grad_ctx(pk))
    assert verify_update(pk, scheme, up, processes=2, ctx=grad_ctx(pk))
    ds = decryption_share(pk, shares[0], agg, processes=2, ctx=share_ctx(pk, shares[0].i))
    assert ds.c_is == decryption_share(pk, shares[0], agg, ctx=share_ctx(pk, shares[0].i)).c_is


@pytest.mark.parametrize("mode", ["batch", "each"])
def test_update_with_a_swapped_ciphertext_is_rejected(keys, scheme, round_, each_update, mode):
    pk, _ = keys
    u = round_[1][0] if mode == "batch" else each_update
    swapped = [u.ciphertexts[1], u.ciphertexts[0], *u.ciphertexts[2:]]
    assert not verify_update(
        pk, scheme, dataclasses.replace(u, ciphertexts=swapped), ctx=grad_ctx(pk)
    )
    assert not verify_update(
        pk, scheme, EncryptedUpdate(u.ciphertexts, [], u.length), ctx=grad_ctx(pk)
    )
    assert not verify_update(pk, scheme, dataclasses.replace(u, length=1000), ctx=grad_ctx(pk))


def test_fewer_than_t_decryption_shares_raise(keys, round_):
    pk, _ = keys
    dss = round_[3]
    with pytest.raises(ValueError, match="at least t"):
        combine_vector(pk, dss[:1])
    with pytest.raises(ValueError, match="at least t"):
        combine_vector(pk, [dss[0], dss[0]])  # duplicates do not count


def test_a_wrong_decryption_share_fails_verification_and_combination(keys, round_):
    pk, _ = keys
    _, _, agg, dss = round_
    d = dss[0]
    c_is = list(d.c_is)
    c_is[1] = c_is[1] * 5 % pk.n2
    bad = DecryptionShare(d.i, c_is, d.proof)
    assert not verify_decryption_share(pk, agg, bad, ctx=share_ctx(pk, bad.i))
    with pytest.raises(ValueError, match="inconsistent"):
        combine_vector(pk, [bad, dss[1]])


def test_a_share_from_another_key_fails(keys, other_keys, round_):
    pk, _ = keys
    opk, oshares = other_keys
    _, _, agg, dss = round_
    foreign = decryption_share(pk, oshares[0], agg, ctx=share_ctx(pk, oshares[0].i))
    assert not verify_decryption_share(pk, agg, foreign, ctx=share_ctx(pk, foreign.i))
    with pytest.raises(ValueError):
        combine_vector(pk, [foreign, dss[1]])


# -- serialization ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["batch", "each", "none"])
def test_update_serialization_round_trips(keys, round_, each_update, mode):
    pk, _ = keys
    u = {"batch": round_[1][0], "each": each_update}.get(mode)
    if u is None:
        u = EncryptedUpdate(round_[2], [], 40)
    assert EncryptedUpdate.from_json(u.to_json(), pk) == u
    assert EncryptedUpdate.from_bytes(u.to_bytes(pk), pk) == u
    assert EncryptedUpdate.from_bytes(u.to_bytes(pk)) == u
    assert ("batch_proof" in u.to_json()) == (mode == "batch")  # older records parse unchanged


def test_share_serialization_round_trips(keys, round_):
    pk, _ = keys
    d = round_[3][2]
    assert DecryptionShare.from_json(d.to_json(), pk) == d
    assert DecryptionShare.from_bytes(d.to_bytes(pk), pk) == d


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d, n: d.update(version=2),
        lambda d, n: d.update(ciphertexts=["0"] + d["ciphertexts"][1:]),
        lambda d, n: d.update(ciphertexts=[format(n * n, "x")] + d["ciphertexts"][1:]),
        lambda d, n: d.update(ciphertexts=[format(n, "x")] + d["ciphertexts"][1:]),
        lambda d, n: d.update(ciphertexts=["0" + d["ciphertexts"][0]] + d["ciphertexts"][1:]),
        lambda d, n: d.update(ciphertexts=[d["ciphertexts"][0].upper()] + d["ciphertexts"][1:]),
        lambda d, n: d.update(length=-1),
        lambda d, n: d.update(length="40"),
        lambda d, n: d.update(batch_proof=None),
        lambda d, n: d.update(batch_proof=d["batch_proof"] | {"S": d["batch_proof"]["S"][1:]}),
        lambda d, n: d.update(batch_proof=d["batch_proof"] | {"type": "proof_pk"}),
        lambda d, n: d.update(batch_proof=d["batch_proof"] | {"z1": "-1"}),
        lambda d, n: d.update(ciphertexts=[]),
    ],
)
def test_update_parsing_rejects_malformed_json(keys, round_, mutate):
    pk, _ = keys
    d = round_[1][0].to_json()
    mutate(d, pk.n)
    with pytest.raises(CryptoFormatError):
        EncryptedUpdate.from_json(d, pk)


def test_update_parsing_rejects_per_ciphertext_proofs_of_the_wrong_count_or_mixed(
    keys, each_update, round_
):
    pk, _ = keys
    d = each_update.to_json()
    with pytest.raises(CryptoFormatError):
        EncryptedUpdate.from_json(d | {"proofs": d["proofs"][:-1]}, pk)
    with pytest.raises(CryptoFormatError):  # both kinds of proof at once
        EncryptedUpdate.from_json(d | {"batch_proof": round_[1][0].batch_proof.to_json()}, pk)


def test_update_parsing_rejects_malformed_bytes(keys, round_):
    pk, _ = keys
    b = round_[1][0].to_bytes(pk)
    for bad in (b[:-1], b + b"\0", b"XXXX" + b[4:], b[:4] + b"\x02" + b[5:]):
        with pytest.raises(CryptoFormatError):
            EncryptedUpdate.from_bytes(bad, pk)
    width = (pk.n2.bit_length() + 7) // 8
    header = 4 + 1 + 8 + 4 + 4 + 1
    zeroed = b[:header] + bytes(width) + b[header + width :]
    with pytest.raises(CryptoFormatError, match="n\\^2"):
        EncryptedUpdate.from_bytes(zeroed, pk)


def test_share_parsing_rejects_out_of_range_index_and_values(keys, round_):
    pk, _ = keys
    d = round_[3][0].to_json()
    with pytest.raises(CryptoFormatError):
        DecryptionShare.from_json(d | {"i": N_PARTIES + 1}, pk)
    with pytest.raises(CryptoFormatError):
        DecryptionShare.from_json(d | {"i": 0}, pk)
    with pytest.raises(CryptoFormatError):
        DecryptionShare.from_json(d | {"c_is": [format(pk.n, "x")]}, pk)
    with pytest.raises(CryptoFormatError):
        DecryptionShare.from_bytes(round_[3][0].to_bytes(pk)[:-3], pk)
