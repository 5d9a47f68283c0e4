"""The same-exponent modexp (native AVX-512 IFMA kernel and its gmpy2 fallback) equals
gmpy2.powmod on random and edge-case inputs for every modulus size the protocol uses (n and
n^2 for 2048- and 3072-bit n) and generic odd moduli; every test runs on both paths."""

from __future__ import annotations

import random
from pathlib import Path

import gmpy2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepchain.crypto import modexp
from deepchain.crypto.modexp import MAX_BITS, powmod_same_exp

pytestmark = pytest.mark.usefixtures("modexp_backend")

#: n and n^2 for 2048- and 3072-bit n, plus generic sizes (one limb, odd limb boundaries)
PROTOCOL_BITS = (2048, 3072, 4096, 6144)
GENERIC_BITS = (3, 50, 51, 52, 53, 104, 521, 1000, 1024)
SLOW = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _modulus(bits: int, rng: random.Random) -> int:
    return rng.getrandbits(bits) | 1 | (1 << (bits - 1))


def _expected(bases, e, m) -> list[int]:
    return [int(gmpy2.powmod(b, e, m)) for b in bases]


def _edge_bases(m: int, bits: int) -> list[int]:
    limbs = -(-(bits + 2) // 52)
    all_ones = (1 << (52 * (limbs - 1))) - 1  # every 52-bit limb below the top one is all ones
    return [0, 1, 2, m - 1, m - 2, all_ones % m, (m >> 1) + 1]


def test_the_kernel_is_built_where_the_cpu_supports_it():
    cpu = Path("/proc/cpuinfo")
    if not cpu.exists() or "avx512ifma" not in cpu.read_text():
        pytest.skip("this CPU lacks AVX-512 IFMA")
    assert modexp.native_available(), "scripts/setup.sh did not build the native kernel"


@pytest.mark.parametrize("bits", PROTOCOL_BITS)
def test_full_size_exponents_match_gmpy2_at_protocol_sizes(bits):
    rng = random.Random(bits)
    m = _modulus(bits, rng)
    e = rng.getrandbits(bits + 20)  # like 2 Delta s_i for a key share s_i < n^2
    bases = [rng.randrange(m) for _ in range(9)] + _edge_bases(m, bits)
    assert powmod_same_exp(bases, e, m) == _expected(bases, e, m)


@pytest.mark.parametrize("bits", PROTOCOL_BITS + GENERIC_BITS)
@pytest.mark.parametrize("e", [0, 1, 2, 31, 32, 33])
def test_edge_bases_and_small_exponents_match_gmpy2(bits, e):
    rng = random.Random(bits * 100 + e)
    for m in (_modulus(bits, rng), (1 << bits) - 1, (1 << (bits - 1)) + 1):
        bases = _edge_bases(m, bits) + [rng.randrange(m) for _ in range(3)]
        assert powmod_same_exp(bases, e, m) == _expected(bases, e, m)


@pytest.mark.parametrize("bits", PROTOCOL_BITS)
def test_all_ones_limbs_in_modulus_base_and_exponent_match_gmpy2(bits):
    m = (1 << bits) - 1  # every limb all ones
    e = (1 << 300) - 1  # every window 0b11111: a multiplication by the last table entry
    bases = [m - 1, (1 << (bits - 1)) - 1, (1 << 52) - 1, m - (1 << 52)]
    assert powmod_same_exp(bases, e, m) == _expected(bases, e, m)


@SLOW
@given(
    bits=st.sampled_from(PROTOCOL_BITS + GENERIC_BITS),
    count=st.integers(1, 19),
    e_len=st.integers(0, 400),
    seed=st.integers(0, 2**32),
)
def test_random_inputs_match_gmpy2(bits, count, e_len, seed):
    rng = random.Random(seed)
    m = _modulus(bits, rng)
    e = rng.getrandbits(e_len) if e_len else 0
    bases = [rng.randrange(m) for _ in range(count)]
    assert powmod_same_exp(bases, e, m) == _expected(bases, e, m)


@SLOW
@given(
    bits=st.sampled_from((4096, 1024, 53)),
    e=st.integers(0, 2**200),
    pad=st.integers(0, 70),
    seed=st.integers(0, 2**32),
)
def test_a_longer_public_schedule_gives_the_same_values(bits, e, pad, seed):
    """e_bits above |e| (the public bound callers pass for a secret exponent) adds leading
    zero windows and changes nothing."""
    rng = random.Random(seed)
    m = _modulus(bits, rng)
    bases = [rng.randrange(m) for _ in range(5)]
    assert powmod_same_exp(bases, e, m, e.bit_length() + pad) == _expected(bases, e, m)


def test_bases_at_or_above_the_modulus_are_reduced_first():
    rng = random.Random(7)
    m = _modulus(4096, rng)
    bases = [m, m + 1, 2 * m - 1, m * m + 5, 3]
    e = rng.getrandbits(500)
    assert powmod_same_exp(bases, e, m) == _expected(bases, e, m)


def test_negative_exponents_even_and_oversized_moduli_fall_back_to_the_same_values():
    rng = random.Random(8)
    m = _modulus(2048, rng)
    bases = [rng.randrange(2, m) for _ in range(4)]
    bases = [b for b in bases if gmpy2.gcd(b, m) == 1]
    assert powmod_same_exp(bases, -5, m) == _expected(bases, -5, m)
    even = m + 1
    assert powmod_same_exp(bases, 12345, even) == _expected(bases, 12345, even)
    big = _modulus(MAX_BITS + 2, rng)
    assert powmod_same_exp(bases, 99, big) == _expected(bases, 99, big)
    assert powmod_same_exp([], 99, m) == []
    assert powmod_same_exp([5, 6], 3, 1) == [0, 0]


def test_the_kernel_path_does_not_call_gmpy2(modexp_backend, monkeypatch):
    if modexp_backend != "ifma":
        pytest.skip("kernel path only")

    def refuse(*_a):
        raise AssertionError("gmpy2.powmod called on the kernel path")

    rng = random.Random(9)
    m = _modulus(4096, rng)
    bases, e = [rng.randrange(m) for _ in range(10)], rng.getrandbits(4100)
    want = _expected(bases, e, m)
    monkeypatch.setattr(modexp.gmpy2, "powmod", refuse)
    assert powmod_same_exp(bases, e, m) == want


def test_a_schedule_shorter_than_the_exponent_is_refused():
    with pytest.raises(ValueError, match="e_bits"):
        powmod_same_exp([2, 3], 1 << 100, 1009, e_bits=50)
