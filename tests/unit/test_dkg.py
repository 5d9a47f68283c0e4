"""Dealerless key generation: real ceremonies at short keys, real malicious and silent parties."""

from __future__ import annotations

import itertools
import math
import random
import types

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.dkg import (
    DKGParams,
    DKGParty,
    InconsistentMessage,
    PartyStalled,
    ProcessParty,
    Relay,
    run_ceremony,
)
from deepchain.crypto.dkg.params import coprime_to
from deepchain.crypto.dkg.party import ceremony_share_context
from deepchain.crypto.dkg.shamir import (
    crt_slots,
    open_field,
    pack_slots,
    share_field,
    slot_groups,
    unpack_slots,
)
from deepchain.crypto.dkg.wire import decode, encode
from deepchain.crypto.paillier import (
    KeyShare,
    ThresholdPublicKey,
    combine,
    key_ceremony_context,
    partial_decrypt,
)
from deepchain.crypto.zk.proof_cd import prove_cd, verify_cd
from deepchain.crypto.zk.proof_pk import prove_pk, verify_pk
from deepchain.crypto.zk.ring_pedersen import verify_prm
from deepchain.crypto.zk.transcript import ProofContext


def _parties(params: DKGParams, seed: int, special: dict | None = None) -> list[DKGParty]:
    out = []
    for i in range(1, params.N + 1):
        kind = (special or {}).get(i, DKGParty)
        out.append(kind(i, params, rng=random.Random(seed * 1000 + i)))
    return out


def _check_key(result, t: int, rng: random.Random) -> None:
    pk, shares = result.pk, result.shares
    N = pk.N
    m = rng.getrandbits(pk.n_bits - 2)
    c = pk.encrypt(m, rng=rng)
    parts = {i: partial_decrypt(pk, shares[i], c) for i in shares}
    for S in itertools.combinations(range(1, N + 1), t):
        assert combine(pk, {i: parts[i] for i in S}) == m
    for i in shares:
        assert KeyShare.from_json(shares[i].to_json(), pk) == shares[i]  # storable as any share
        proof = prove_cd(pk, shares[i], [c], [parts[i]], rng, ctx=ceremony_share_context(pk, i))
        assert verify_cd(pk, i, [c], [parts[i]], proof, ctx=ceremony_share_context(pk, i))
        # the same proof does not vouch for a wrong share
        assert not verify_cd(
            pk, i, [c], [parts[i] * 4 % pk.n2], proof, ctx=ceremony_share_context(pk, i)
        )


def test_four_parties_make_a_key_any_three_decrypt_and_every_proof_cd_verifies():
    params = DKGParams(256, 4, 3)
    result = run_ceremony(_parties(params, 1))
    assert result.pk.n.bit_length() == 256 and (result.pk.N, result.pk.t) == (4, 3)
    _check_key(result, 3, random.Random(5))


def test_ten_parties_make_a_key_any_six_decrypt_and_every_proof_cd_verifies():
    params = DKGParams(192, 10, 6)
    result = run_ceremony(_parties(params, 2))
    assert result.pk.n.bit_length() == 192 and (result.pk.N, result.pk.t) == (10, 6)
    _check_key(result, 6, random.Random(6))


def test_the_key_carries_joint_ring_pedersen_parameters_so_proof_pk_works_on_it():
    params = DKGParams(256, 4, 3)
    result = run_ceremony(_parties(params, 12))
    pk = result.pk
    assert pk.ring_pedersen is not None and pk.ring_pedersen.N_hat == pk.n
    assert verify_prm(pk.ring_pedersen, key_ceremony_context(pk))
    assert ThresholdPublicKey.from_json(pk.to_json()) == pk
    rng = random.Random(13)
    ctx = ProofContext(pk.fingerprint(), "group", 1, "T1", 2, "addr")
    m, alpha = 12345, rng.getrandbits(448)
    c = pk.encrypt(m, alpha=alpha)
    proof = prove_pk(pk, c, m, alpha, 32, rng, ctx=ctx)
    assert verify_pk(pk, c, proof, 32, ctx=ctx)
    c_wrong = pk.encrypt(m + 1, alpha=alpha)
    assert not verify_pk(pk, c_wrong, proof, 32, ctx=ctx)


class WrongPrmResponse(DKGParty):
    """Adds 1 to its first Pi^prm response."""

    def _frame(self, step):
        phase, out = step
        if phase == "ring-pedersen":
            out = {j: dict(body, z=[body["z"][0] + 1] + body["z"][1:]) for j, body in out.items()}
        return super()._frame((phase, out))


def test_it_names_a_party_whose_ring_pedersen_proof_share_is_wrong():
    params = DKGParams(256, 4, 3)
    parties = _parties(params, 14, {3: WrongPrmResponse})
    with pytest.raises(InconsistentMessage) as err:
        run_ceremony(parties)
    assert err.value.party == 3 and err.value.phase == "ring-pedersen"
    _no_keys(parties)


def test_fewer_than_t_shares_do_not_decrypt():
    params = DKGParams(256, 4, 3)
    result = run_ceremony(_parties(params, 3))
    pk = result.pk
    c = pk.encrypt(42)
    parts = {i: partial_decrypt(pk, result.shares[i], c) for i in (1, 2)}
    with pytest.raises(ValueError):
        combine(pk, parts)


# -- no process ever holds p, q, phi(N), lambda or d -------------------------------------------
def _ints(obj, seen: set[int], out: set[int]) -> None:
    """Every integer reachable from obj: attributes, containers, arrays, generator frames."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, bool):
        return
    if isinstance(obj, int) or type(obj).__name__ == "mpz":
        out.add(int(obj))
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            for x in obj.ravel():
                _ints(x, seen, out)
        return  # int64 arrays hold sieve residues < 2^15
    if isinstance(obj, dict):
        for k, v in obj.items():
            _ints(k, seen, out)
            _ints(v, seen, out)
        return
    if isinstance(obj, list | tuple | set | frozenset):
        for x in obj:
            _ints(x, seen, out)
        return
    if isinstance(obj, types.GeneratorType):
        if obj.gi_frame is not None:
            _ints(dict(obj.gi_frame.f_locals), seen, out)
        if obj.gi_yieldfrom is not None:
            _ints(obj.gi_yieldfrom, seen, out)
        return
    if isinstance(obj, str | bytes | float | type | types.ModuleType | types.FunctionType):
        return
    if hasattr(obj, "__dict__"):
        _ints(vars(obj), seen, out)
    for name in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, name):
            _ints(getattr(obj, name), seen, out)


def _frame_locals(party: DKGParty) -> list[dict]:
    frames, g = [], party._gen
    while g is not None:
        if g.gi_frame is not None:
            frames.append(dict(g.gi_frame.f_locals))
        g = g.gi_yieldfrom
    return frames


def test_no_party_state_and_no_message_ever_holds_p_q_phi_lambda_or_d():
    params = DKGParams(256, 4, 3)
    parties = _parties(params, 4)
    relay = Relay(keep=True)
    snapshots: list[tuple[int, set[int]]] = []
    prime_shares: dict[int, tuple[list[int], list[int]]] = {}
    d_shares: dict[int, int] = {}
    lam_shares: dict[int, int] = {}  # the ring-Pedersen exponent's additive shares

    def on_round(_rounds: int, _phase: str) -> None:
        for p in parties:
            found: set[int] = set()
            _ints(p, set(), found)
            snapshots.append((p.i, found))
            for loc in _frame_locals(p):
                if "p_i" in loc and "q_i" in loc:
                    prime_shares[p.i] = (loc["p_i"], loc["q_i"])
                if "d_i" in loc:
                    d_shares[p.i] = loc["d_i"]
                if "lam_i" in loc:
                    lam_shares[p.i] = loc["lam_i"]

    result = run_ceremony(parties, relay=relay, on_round=on_round)
    n = result.pk.n
    # The test, not any party, adds the parties' shares up to find the factors.
    K = len(prime_shares[1][0])
    ks = [
        k
        for k in range(K)
        if sum(prime_shares[i][0][k] for i in prime_shares)
        * sum(prime_shares[i][1][k] for i in prime_shares)
        == n
    ]
    assert len(ks) == 1
    p = sum(prime_shares[i][0][ks[0]] for i in prime_shares)
    q = n // p
    phi = (p - 1) * (q - 1)
    lam = int(gmpy2.lcm(p - 1, q - 1))
    d = sum(d_shares.values())
    assert d % phi == 0 and d % n == 1  # the shared exponent is what combine needs
    rp = result.pk.ring_pedersen
    rp_lambda = sum(lam_shares.values())
    assert len(lam_shares) == 4 and pow(rp.t, rp_lambda, n) == rp.s  # log_t s, shared
    forbidden = {p, q, phi, lam, d, phi // 4, p + q, p + q - 1, rp_lambda}
    assert len(snapshots) == 4 * result.rounds
    for i, found in snapshots:
        assert not found & forbidden, f"party {i} held a secret of the modulus"
    for msg in relay.messages:
        body = decode(msg.body)
        found: set[int] = set()
        _ints(body.fields, set(), found)
        assert not found & forbidden, f"a message from party {msg.sender} carried a secret"
    for i, share in result.shares.items():
        assert share.s_i != d and share.i == i


# -- attacks -----------------------------------------------------------------------------------
class OffPolynomialDealer(DKGParty):
    """Sends party 2 a share of d_i that is not on the polynomial it committed to."""

    def _frame(self, step):
        phase, out = step
        if phase == "share":
            out = dict(out)
            out[2] = dict(out[2], f=out[2]["f"] + 1)
        return super()._frame((phase, out))


class SilentParty(DKGParty):
    """Stops sending once the modulus phase starts."""

    def outgoing(self):
        if self.phase == "modulus":
            return {}
        return super().outgoing()


class WrongDecryptionShare(DKGParty):
    """Sends a test decryption share that is not c^(2 Delta s_i), with its honest proof."""

    def _frame(self, step):
        phase, out = step
        if phase == "test-decryption":
            out = {j: dict(body, c=body["c"] * 4 % (self._n2 or 1)) for j, body in out.items()}
        return super()._frame((phase, out))

    @property
    def _n2(self):
        for loc in reversed(_frame_locals(self)):
            if "n2" in loc:
                return loc["n2"]
        return None


class GarbageSender(DKGParty):
    """Sends bytes that are not a ceremony message in the first key round."""

    def outgoing(self):
        out = super().outgoing()
        if self.phase == "key":
            return {j: b"\x00garbage" for j in out}
        return out


def _no_keys(parties) -> None:
    assert all(p.result is None for p in parties)


def test_it_names_the_dealer_of_a_share_off_its_committed_polynomial():
    params = DKGParams(256, 4, 3)
    parties = _parties(params, 7, {3: OffPolynomialDealer})
    with pytest.raises(InconsistentMessage) as err:
        run_ceremony(parties)
    assert err.value.party == 3 and err.value.phase == "share"
    _no_keys(parties)


def test_it_names_a_party_that_goes_silent_and_stops_cleanly():
    params = DKGParams(256, 4, 3)
    parties = _parties(params, 8, {4: SilentParty})
    with pytest.raises(PartyStalled) as err:
        run_ceremony(parties)
    assert err.value.party == 4 and err.value.phase == "modulus"
    _no_keys(parties)


def test_it_names_a_party_whose_test_decryption_share_is_wrong():
    params = DKGParams(256, 4, 3)
    parties = _parties(params, 9, {2: WrongDecryptionShare})
    with pytest.raises(InconsistentMessage) as err:
        run_ceremony(parties)
    assert err.value.party == 2 and err.value.phase == "test-decryption"
    _no_keys(parties)


def test_it_names_the_sender_of_a_malformed_message():
    params = DKGParams(256, 4, 3)
    parties = _parties(params, 10, {1: GarbageSender})
    with pytest.raises(InconsistentMessage) as err:
        run_ceremony(parties)
    assert err.value.party == 1
    _no_keys(parties)


def test_parties_in_their_own_processes_make_a_working_key_and_blame_crosses_the_boundary():
    params = DKGParams(256, 4, 3)
    parties = [ProcessParty(i, params) for i in range(1, 5)]
    try:
        result = run_ceremony(parties)
    finally:
        for p in parties:
            p.close()
    _check_key(result, 3, random.Random(11))
    assert all(st.critical <= st.cpu for st in result.phases.values())
    parties = [
        ProcessParty(i, params, OffPolynomialDealer if i == 1 else DKGParty) for i in range(1, 5)
    ]
    try:
        with pytest.raises(InconsistentMessage) as err:
            run_ceremony(parties)
    finally:
        for p in parties:
            p.close()
    assert err.value.party == 1 and err.value.phase == "share"


def test_it_refuses_too_few_parties_for_an_honest_majority():
    with pytest.raises(ValueError):
        DKGParams(256, 2, 2)
    with pytest.raises(ValueError):
        DKGParams(256, 4, 4)  # t > N - T: the honest majority alone could not decrypt


# -- building blocks ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 2**300), min_size=1, max_size=5),
    st.integers(3, 12),
    st.integers(0, 2**32),
)
def test_field_shares_open_to_the_secret_and_any_extra_share_is_consistent(secrets_, N, seed):
    P = int(gmpy2.next_prime(2**310))
    T = (N - 1) // 2
    rng = random.Random(seed)
    sh = share_field(secrets_, T, N, P, rng)
    opened = open_field({j: sh[j - 1] for j in range(1, N + 1)}, T, P)
    assert opened == [s % P for s in secrets_]
    # T shares alone are uniformly random: different secrets give the same first T shares
    # distribution; here: products of two degree-T sharings open at degree 2T.
    prod = {j: [a * a % P for a in sh[j - 1]] for j in range(1, N + 1)}
    assert open_field(prod, 2 * T, P) == [s * s % P for s in secrets_]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 30), st.integers(0, 3))
def test_crt_slots_recombines_every_residue(seed, C, r4):
    moduli = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]
    rng = np.random.default_rng(seed)
    res = np.stack([rng.integers(0, m, C) for m in moduli], axis=1)
    out = crt_slots(res, moduli, r4)
    for row, c in zip(res, out, strict=True):
        assert c % 4 == r4 and 0 <= c < 4 * np.prod(moduli, dtype=object)
        assert [c % m for m in moduli] == [int(x) for x in row]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 2**200), max_size=20), st.integers(0, 3))
def test_the_screen_filter_drops_exactly_the_candidates_with_a_factor_in_its_range(values, k):
    P = DKGParams(256, 4, 3).screen_primorial
    values = [v * [1, 65537, 1048573, 70001][k] if i % 3 == 0 else v for i, v in enumerate(values)]
    assert coprime_to(values, P) == [math.gcd(v, int(P)) == 1 for v in values]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 40), st.sampled_from([256, 1024, 2048]))
def test_sieve_residues_pack_into_words_and_back_and_an_out_of_range_word_is_refused(seed, C, bits):
    moduli = DKGParams(bits, 10, 6).sieve
    rng = np.random.default_rng(seed)
    res = np.stack([rng.integers(0, m, C) for m in moduli], axis=1).astype(np.uint16)
    if C:
        res[0] = np.array(moduli) - 1  # the largest residues fit too
    words = pack_slots(res, moduli)
    assert words.shape == (C, len(slot_groups(moduli))) and words.dtype == np.uint64
    assert np.array_equal(unpack_slots(words, moduli), res)
    if C:
        words[C - 1, 0] = slot_groups(moduli)[0][2]  # one past the largest word of its run
        with pytest.raises(ValueError):
            unpack_slots(words, moduli)


@settings(max_examples=60, deadline=None)
@given(
    st.text(alphabet="abcdefghij-", min_size=1, max_size=12),
    st.integers(0, 2**31),
    st.integers(-(2**600), 2**600),
    st.lists(st.integers(0, 2**300), max_size=6),
)
def test_messages_round_trip_and_garbage_is_refused(phase, rnd, x, xs):
    arr = np.arange(12, dtype=np.int64).reshape(3, 4)
    body = encode(phase, rnd, {"x": x, "xs": xs, "a": arr, "s": [arr, arr + 1]})
    got = decode(body)
    assert (got.phase, got.round, got.fields["x"], got.fields["xs"]) == (phase, rnd, x, xs)
    assert np.array_equal(got.fields["a"], arr) and np.array_equal(got.fields["s"][1], arr + 1)
    from deepchain.crypto.serialize import CryptoFormatError

    with pytest.raises(CryptoFormatError):
        decode(body[:-1])
    with pytest.raises(CryptoFormatError):
        decode(body + b"\x00")
