"""Threshold Paillier: keys, homomorphism, t-of-N combination, key-share delivery, phe interop."""

from __future__ import annotations

import itertools
import random

import gmpy2
import phe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.identity import Identity
from deepchain.crypto.keyshare import KeyShareError, open_key_share, seal_key_share
from deepchain.crypto.keyshare import seal_key_share as _seal
from deepchain.crypto.paillier import (
    KeyShare,
    PlainPublicKey,
    ThresholdPublicKey,
    add,
    combine,
    decrypt_with_factors,
    generate_threshold_keypair,
    negate,
    partial_decrypt,
    partial_decrypt_all,
    plain_public_key,
    safe_prime,
    scalar_mul,
    verify_key_share,
)
from deepchain.crypto.serialize import CryptoFormatError

#: every test runs on the native modexp kernel and on gmpy2 (DEEPCHAIN_NATIVE=0)
pytestmark = pytest.mark.usefixtures("modexp_backend")

N_PARTIES, T = 5, 3


@pytest.fixture(scope="module")
def keys():
    return generate_threshold_keypair(512, N_PARTIES, T, rng=random.Random(4))


@pytest.fixture(scope="module")
def other_keys():
    return generate_threshold_keypair(512, N_PARTIES, T, rng=random.Random(5))


def decrypt(pk, shares, c, subset=None):
    subset = subset or shares[: pk.t]
    return combine(pk, {s.i: partial_decrypt(pk, s, c) for s in subset})


def test_safe_prime_is_safe_and_has_exact_size():
    p = safe_prime(64, random.Random(1))
    assert p.bit_length() == 64 and gmpy2.is_prime(p) and gmpy2.is_prime((p - 1) // 2)


def test_keygen_produces_consistent_public_key(keys):
    pk, shares = keys
    assert pk.n.bit_length() == 512
    assert len(pk.v_i) == N_PARTIES and pk.t == T and pk.delta == 120
    assert all(verify_key_share(pk, s) for s in shares)


def test_a_tampered_key_share_does_not_verify(keys):
    pk, shares = keys
    assert not verify_key_share(pk, KeyShare(i=1, s_i=shares[0].s_i + 1))
    assert not verify_key_share(pk, KeyShare(i=2, s_i=shares[0].s_i))
    assert not verify_key_share(pk, KeyShare(i=N_PARTIES + 1, s_i=shares[0].s_i))


def test_key_share_repr_hides_the_secret(keys):
    _, shares = keys
    text = repr(shares[0]) + str(shares[0])
    assert format(shares[0].s_i, "x") not in text and str(shares[0].s_i) not in text


def test_encryption_matches_the_naive_formula(keys):
    pk, _ = keys
    m, alpha = 123456789, (1 << 447) + 987654321
    expected = (1 + m * pk.n) * pow(pk.h_s, alpha, pk.n2) % pk.n2
    assert pk.encrypt(m, alpha) == expected


def test_encryption_is_randomized(keys):
    pk, _ = keys
    assert pk.encrypt(7) != pk.encrypt(7)


@settings(max_examples=8, deadline=None)
@given(a=st.integers(min_value=0), b=st.integers(min_value=0), k=st.integers(-50, 50))
def test_homomorphic_add_scalar_and_negate(keys, a, b, k):
    pk, shares = keys
    a, b = a % pk.n, b % pk.n
    ca, cb = pk.encrypt(a), pk.encrypt(b)
    assert decrypt(pk, shares, add(pk, ca, cb)) == (a + b) % pk.n
    assert decrypt(pk, shares, scalar_mul(pk, ca, k)) == (k * a) % pk.n
    assert decrypt(pk, shares, negate(pk, ca)) == (-a) % pk.n


def test_every_t_subset_decrypts(keys):
    pk, shares = keys
    c = pk.encrypt(424242)
    parts = {s.i: partial_decrypt(pk, s, c) for s in shares}
    for S in itertools.combinations(range(1, N_PARTIES + 1), T):
        assert combine(pk, {i: parts[i] for i in S}) == 424242


def test_batched_partial_decryptions_equal_one_at_a_time_and_decrypt(keys):
    pk, shares = keys
    rng = random.Random(3)
    ms = [rng.randrange(pk.n) for _ in range(11)] + [0, 1, pk.n - 1]
    cs = [pk.encrypt(m, rng=rng) for m in ms]
    by_i = {s.i: partial_decrypt_all(pk, s, cs) for s in shares}
    for s in shares:
        assert by_i[s.i] == [partial_decrypt(pk, s, c) for c in cs]
    for j, m in enumerate(ms):
        assert combine(pk, {i: v[j] for i, v in by_i.items()}) == m


def test_a_share_exponent_beyond_the_public_schedule_bound_still_decrypts_right(keys):
    """A share outside KeyShare's range (s_i >= n^2) lengthens the schedule, not the result."""
    pk, shares = keys
    big = KeyShare(i=shares[0].i, s_i=shares[0].s_i + 3 * pk.n2)
    cs = [pk.encrypt(5), pk.encrypt(6)]
    assert partial_decrypt_all(pk, big, cs) == [partial_decrypt(pk, big, c) for c in cs]


def test_fewer_than_t_shares_raise(keys):
    pk, shares = keys
    c = pk.encrypt(5)
    with pytest.raises(ValueError, match="at least t"):
        combine(pk, {s.i: partial_decrypt(pk, s, c) for s in shares[: T - 1]})


def test_a_wrong_share_raises(keys):
    pk, shares = keys
    c = pk.encrypt(5)
    parts = {s.i: partial_decrypt(pk, s, c) for s in shares[:T]}
    parts[2] = parts[2] * 3 % pk.n2
    with pytest.raises(ValueError, match="inconsistent"):
        combine(pk, parts)


def test_a_share_from_another_key_raises(keys, other_keys):
    pk, shares = keys
    _, foreign = other_keys
    c = pk.encrypt(5)
    parts = {s.i: partial_decrypt(pk, s, c) for s in shares[:T]}
    parts[1] = partial_decrypt(pk, foreign[0], c)
    with pytest.raises(ValueError):
        combine(pk, parts)


def test_share_index_out_of_range_raises(keys):
    pk, shares = keys
    c = pk.encrypt(5)
    parts = {s.i: partial_decrypt(pk, s, c) for s in shares[:T]}
    parts[N_PARTIES + 1] = parts.pop(1)
    with pytest.raises(ValueError, match="out of range"):
        combine(pk, parts)


def test_rejects_bad_keygen_parameters():
    with pytest.raises(ValueError):
        generate_threshold_keypair(512, 3, 4)
    with pytest.raises(ValueError):
        generate_threshold_keypair(511, 3, 2)


# -- serialization ---------------------------------------------------------------------------
def test_public_key_json_round_trip_and_fingerprint(keys):
    pk, _ = keys
    back = ThresholdPublicKey.from_json(pk.to_json())
    assert back == pk and back.fingerprint() == pk.fingerprint()
    assert len(pk.fingerprint()) == 64


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(version=2),
        lambda d: d.update(type="other"),
        lambda d: d.update(n=d["n"].upper()),
        lambda d: d.update(n="0" + d["n"]),
        lambda d: d.update(n="4"),
        lambda d: d.update(h_s="0"),
        lambda d: d.update(v=d["n"]),
        lambda d: d.update(v_i=d["v_i"][:-1]),
        lambda d: d.update(t=d["N"] + 1),
        lambda d: d.update(t=0),
        lambda d: d.update(extra=1),
        lambda d: d.pop("v"),
    ],
)
def test_public_key_parsing_rejects_malformed_input(keys, mutate):
    pk, _ = keys
    d = pk.to_json()
    mutate(d)
    with pytest.raises(CryptoFormatError):
        ThresholdPublicKey.from_json(d)


def test_public_key_rejects_ciphertext_sized_out_of_range(keys):
    pk, _ = keys
    d = pk.to_json()
    d["v_i"] = d["v_i"][:-1] + [format(pk.n2, "x")]
    with pytest.raises(CryptoFormatError, match="n\\^2"):
        ThresholdPublicKey.from_json(d)


def test_key_share_json_round_trip_and_range_check(keys):
    pk, shares = keys
    assert KeyShare.from_json(shares[2].to_json(), pk) == shares[2]
    bad = shares[2].to_json() | {"i": N_PARTIES + 1}
    with pytest.raises(CryptoFormatError):
        KeyShare.from_json(bad, pk)


# -- key-share delivery ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def people():
    dealer = Identity.from_seed(b"d" * 32)
    alice = Identity.from_seed(b"a" * 32)
    bob = Identity.from_seed(b"b" * 32)
    return dealer, alice, bob


def test_sealed_key_share_round_trips(keys, people):
    pk, shares = keys
    dealer, alice, _ = people
    box = seal_key_share(shares[0], alice.public, dealer, pk)
    assert format(shares[0].s_i, "x") not in box
    assert open_key_share(box, alice, dealer.address, pk, index=1) == shares[0]


def test_sealed_key_share_opened_by_someone_else_fails(keys, people):
    pk, shares = keys
    dealer, alice, bob = people
    box = seal_key_share(shares[0], alice.public, dealer, pk)
    with pytest.raises(KeyShareError):
        open_key_share(box, bob, dealer.address, pk, index=1)


def test_sealed_key_share_from_a_forger_fails(keys, people):
    pk, shares = keys
    dealer, alice, bob = people
    box = seal_key_share(shares[0], alice.public, bob, pk)  # signed by bob, not the dealer
    with pytest.raises(KeyShareError, match="signature"):
        open_key_share(box, alice, dealer.address, pk, index=1)


def test_sealed_key_share_misdirected_by_the_dealer_fails(keys, people):
    """A box whose signed recipient is Alice but was sealed to Bob's box key is rejected."""
    pk, shares = keys
    dealer, alice, bob = people
    from deepchain.crypto.identity import PublicIdentity

    crossed = PublicIdentity(sign_pk=alice.public.sign_pk, box_pk=bob.public.box_pk)
    box = _seal(shares[0], crossed, dealer, pk)
    with pytest.raises(KeyShareError, match="another party"):
        open_key_share(box, bob, dealer.address, pk, index=1)


def test_sealed_key_share_for_another_key_or_wrong_share_fails(keys, other_keys, people):
    pk, shares = keys
    opk, _ = other_keys
    dealer, alice, _ = people
    box = seal_key_share(shares[0], alice.public, dealer, pk)
    with pytest.raises(KeyShareError, match="another public key"):
        open_key_share(box, alice, dealer.address, opk, index=1)
    bad = seal_key_share(KeyShare(1, shares[0].s_i + 1), alice.public, dealer, pk)
    with pytest.raises(KeyShareError, match="v_i"):
        open_key_share(bad, alice, dealer.address, pk, index=1)


def test_sealed_key_share_rejects_a_corrupted_box(keys, people):
    pk, shares = keys
    dealer, alice, _ = people
    box = seal_key_share(shares[0], alice.public, dealer, pk)
    with pytest.raises(KeyShareError):
        open_key_share(box[:-8] + "AAAAAAA=", alice, dealer.address, pk, index=1)


# -- interop with phe ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phe_keys():
    return phe.generate_paillier_keypair(n_length=512)


def test_our_ciphertext_decrypts_under_phe(phe_keys):
    pub, priv = phe_keys
    ours = plain_public_key(pub.n, random.Random(3))
    for m in (0, 1, 123456789, pub.n - 1):
        assert priv.raw_decrypt(ours.encrypt(m)) == m


def test_phe_ciphertext_decrypts_here(phe_keys):
    pub, priv = phe_keys
    for m in (0, 42, pub.n // 3):
        assert decrypt_with_factors(priv.p, priv.q, pub.raw_encrypt(m)) == m


def test_known_answer_matches_phe_bit_for_bit(phe_keys):
    """Enc(m; alpha) with h_s = h^n equals phe's raw_encrypt(m, r = h^alpha mod n)."""
    pub, priv = phe_keys
    n, n2 = pub.n, pub.n * pub.n
    h = pow(0xC0FFEE, 2, n)
    ours = PlainPublicKey(n=n, h_s=pow(h, n, n2))
    m, alpha = 31337, (1 << 447) | 0xDEADBEEF
    c = ours.encrypt(m, alpha)
    assert c == pub.raw_encrypt(m, r_value=pow(h, alpha, n))
    assert decrypt_with_factors(priv.p, priv.q, c) == m == priv.raw_decrypt(c)
