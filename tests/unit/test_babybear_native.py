"""The native BabyBear NTT kernel (deepchain/crypto/native/_babybear.c) gives exactly the numbers
of the numpy reference ``babybear.ntt_numpy``: every power-of-two N up to 2^12, several row
counts and leading shapes, forward and inverse, random and edge values (0, 1, p - 1); with
DEEPCHAIN_NATIVE=0 ``babybear.ntt`` is the numpy loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto import native
from deepchain.crypto.zk import babybear
from deepchain.crypto.zk.babybear import P, ntt_numpy

try:
    from deepchain.crypto.native import _babybear
except ImportError:  # not built: scripts/setup.sh compiles it when gcc is there
    _babybear = None

LOG_NS = range(13)  # N = 1, 2, 4, ..., 2^12


@pytest.fixture
def kernel(monkeypatch):
    if _babybear is None:
        pytest.skip("the native BabyBear kernel is not built (scripts/setup.sh)")
    monkeypatch.delenv("DEEPCHAIN_NATIVE", raising=False)
    return _babybear


def _native(a: np.ndarray, inverse: bool) -> np.ndarray:
    out = native.babybear_ntt(a, inverse)
    assert out is not None
    return out


def _check(a: np.ndarray, inverse: bool) -> None:
    before = a.copy()
    out = _native(a, inverse)
    want = ntt_numpy(a, inverse)
    assert out.dtype == np.uint64 and out.shape == a.shape
    assert np.array_equal(out, want)
    assert np.array_equal(a, before)  # the input is not modified


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("log_n", LOG_NS)
@pytest.mark.parametrize("rows", [1, 2, 5])
def test_equals_numpy_on_random_rows(kernel, log_n, rows, inverse):
    rng = np.random.default_rng(1000 * log_n + rows)
    _check(rng.integers(0, P, size=(rows, 1 << log_n), dtype=np.uint64), inverse)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("log_n", LOG_NS)
def test_equals_numpy_on_edge_values(kernel, log_n, inverse):
    N = 1 << log_n
    rows = np.stack(
        [
            np.zeros(N, dtype=np.uint64),
            np.full(N, P - 1, dtype=np.uint64),
            np.ones(N, dtype=np.uint64),
            np.resize(np.array([0, P - 1], dtype=np.uint64), N),
            np.resize(np.array([P - 1, 0, 1], dtype=np.uint64), N),
        ]
    )
    _check(rows, inverse)


@settings(max_examples=60, deadline=None)
@given(
    log_n=st.integers(0, 12),
    lead=st.lists(st.integers(0, 3), min_size=0, max_size=2),
    inverse=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    edge=st.sampled_from(["uniform", "extremes", "mixed"]),
)
def test_equals_numpy_property(log_n, lead, inverse, seed, edge):
    if _babybear is None:
        pytest.skip("the native BabyBear kernel is not built (scripts/setup.sh)")
    shape = (*lead, 1 << log_n)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, P, size=shape, dtype=np.uint64)
    if edge == "extremes":
        a = np.where(rng.random(shape) < 0.5, np.uint64(0), np.uint64(P - 1))
    elif edge == "mixed":
        pick = rng.integers(0, 4, size=shape)
        a = np.where(pick == 0, np.uint64(0), np.where(pick == 1, np.uint64(P - 1), a))
    _check(a, inverse)


def test_round_trip_and_non_uint64_input(kernel):
    rng = np.random.default_rng(7)
    a = rng.integers(0, P, size=(3, 256), dtype=np.int64)  # converted like ntt_numpy does
    fwd = _native(a, False)
    assert np.array_equal(fwd, ntt_numpy(a))
    assert np.array_equal(_native(fwd, True), a.astype(np.uint64))
    strided = rng.integers(0, P, size=(4, 128), dtype=np.uint64)[:, ::2]  # not contiguous
    assert np.array_equal(_native(strided, False), ntt_numpy(strided))


def test_babybear_ntt_uses_the_kernel(kernel):
    a = np.random.default_rng(3).integers(0, P, size=(2, 64), dtype=np.uint64)
    assert np.array_equal(babybear.ntt(a), ntt_numpy(a))
    assert np.array_equal(babybear.ntt(a, inverse=True), ntt_numpy(a, inverse=True))


def test_inputs_the_kernel_declines_fall_back(kernel):
    # an entry >= p, or a last axis that is not a power of two: None, so the numpy loop decides
    assert native.babybear_ntt(np.array([[P, 0]], dtype=np.uint64)) is None
    assert native.babybear_ntt(np.zeros((2, 3), dtype=np.uint64)) is None
    with pytest.raises(ValueError):
        babybear.ntt(np.zeros((2, 3), dtype=np.uint64))
    with pytest.raises(ValueError):
        kernel.ntt(np.zeros(4, dtype=np.uint64), 1, 3, False)
    with pytest.raises(ValueError):
        kernel.ntt(np.zeros(4, dtype=np.uint64), 2, 4, False)  # 8 entries expected


def test_native_disabled_gives_the_numpy_result(monkeypatch):
    monkeypatch.setenv("DEEPCHAIN_NATIVE", "0")
    assert native.babybear_ntt(np.zeros((1, 8), dtype=np.uint64)) is None
    calls = []
    real = babybear.ntt_numpy

    def spy(a, inverse=False):
        calls.append(inverse)
        return real(a, inverse)

    monkeypatch.setattr(babybear, "ntt_numpy", spy)
    a = np.random.default_rng(5).integers(0, P, size=(3, 512), dtype=np.uint64)
    for inverse in (False, True):
        assert np.array_equal(babybear.ntt(a, inverse), real(a, inverse))
    assert calls == [False, True]
