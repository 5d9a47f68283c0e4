"""Many non-negative integers at once: packed as fixed-width big-endian bytes (``PackedInts``,
the slot-bound proof's responses as they are on the wire) and exact sums over them computed
with numpy on 24-bit limbs (``limbs``, ``weighted_sum``, ``power_sums``, ``square``,
``linked_sum``, ``digit_sums``, ``square_total``), so that millions of responses cost no
Python object per element.

Exactness. A limb array holds x = sum_a X[a] 2^(24 a) with 0 <= X[a] < 2^24 (``limbs``,
``normalize``); weights are split into 16-bit limbs; ``weighted_sum`` multiplies them in float64
(numpy's BLAS) over at most 2^13 rows at a time, so every product is below 2^40 and every
partial sum below 2^53: every intermediate value is an integer that float64 holds exactly,
whatever the order of summation (BLAS runs on one thread). Limbs are recombined with Python
integers. Each function
equals its straightforward Python definition (in its docstring; hypothesis-tested).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import overload

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = [
    "LIMB_BITS",
    "PackedInts",
    "at_least_pow2",
    "digit_sums",
    "limbs",
    "limbs_of_ints",
    "linked_sum",
    "normalize",
    "pack",
    "power_sum",
    "power_sums",
    "square",
    "square_total",
    "to_ints",
    "total",
    "weight_limbs",
    "weighted_sum",
]

_BLAS = ThreadpoolController()
LIMB_BITS = 24
_MASK = (1 << LIMB_BITS) - 1
_W_BITS = 16  # weight limbs
_ROWS = 1 << 13  # rows per float64 product: (2^24 - 1)(2^16 - 1) 2^13 < 2^53
_ELEMS = 1 << 22  # limbs turned into float64 at a time (bounds the memory)
_CHUNK = 1 << 16  # rows per call in power_sum


class PackedInts(Sequence[int]):
    """A read-only sequence of integers in [0, 2^(8 width)), held as their concatenated
    ``width``-byte big-endian encodings (``raw``); equal to any sequence of the same ints."""

    __slots__ = ("raw", "width")

    def __init__(self, raw: bytes, width: int) -> None:
        if width < 1 or len(raw) % width:
            raise ValueError("PackedInts: the bytes are not a whole number of values")
        self.raw, self.width = bytes(raw), width

    @classmethod
    def of(cls, values: Sequence[int], width: int) -> PackedInts:
        """Pack ints (OverflowError if one is negative or does not fit in ``width`` bytes)."""
        if isinstance(values, PackedInts) and values.width == width:
            return values
        return cls(b"".join([int(v).to_bytes(width, "big") for v in values]), width)

    def __len__(self) -> int:
        return len(self.raw) // self.width

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[int, ...]: ...
    def __getitem__(self, i: int | slice) -> int | tuple[int, ...]:
        if isinstance(i, slice):
            return tuple(self)[i] if i.step not in (None, 1) else self._range(i)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("PackedInts index out of range")
        w = self.width
        return int.from_bytes(self.raw[i * w : (i + 1) * w], "big")

    def _range(self, s: slice) -> tuple[int, ...]:
        lo, hi, _ = s.indices(len(self))
        w, raw = self.width, self.raw
        return tuple(int.from_bytes(raw[p : p + w], "big") for p in range(lo * w, hi * w, w))

    def __iter__(self) -> Iterator[int]:
        w, raw = self.width, self.raw
        return (int.from_bytes(raw[p : p + w], "big") for p in range(0, len(raw), w))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedInts):
            return self.width == other.width and self.raw == other.raw
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(other) == len(self) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"PackedInts({len(self)} values of {self.width} bytes)"

    def limbs(self) -> np.ndarray:
        """The values as a (ceil(width / 3), n) int64 array of 24-bit limbs (``limbs``)."""
        return limbs(self.raw, self.width)


def limbs(raw: bytes, width: int) -> np.ndarray:
    """(L, n) int64, L = ceil(width / 3): column i holds value i (``width`` big-endian bytes
    each) as 24-bit limbs, least significant (row 0) first."""
    n, L = len(raw) // width, -(-width // 3)
    out = np.zeros((L, n), dtype=np.int64)
    if n == 0:
        return out
    buf = np.frombuffer(raw, dtype=np.uint8)
    for a in range(L):  # limb a is the bytes [start, start + 3) of each value
        start = width - 3 * (a + 1)
        if start >= 1 or (start == 0 and width >= 4):  # one strided 4-byte read per value
            off = max(0, start - 1)
            v = np.ndarray((n,), dtype=">u4", buffer=buf, offset=off, strides=(width,))
            out[a] = (v & _MASK) if start >= 1 else (v >> 8)
        else:
            for i in range(max(0, start), start + 3):
                out[a] = (out[a] << 8) | buf[i::width]
    return out


def limbs_of_ints(values: Sequence[int], n_limbs: int) -> np.ndarray:
    """(n_limbs, n) int64 24-bit limbs of non-negative ints below 2^(24 n_limbs)."""
    return limbs(PackedInts.of(values, 3 * n_limbs).raw, 3 * n_limbs)


def to_ints(X: np.ndarray) -> list[int]:
    """The integers sum_a X[a, i] 2^(24 a) (any non-negative int64 limbs below 2^62)."""
    X = normalize(X)
    return list(pack(X, 3 * X.shape[0]))


def normalize(X: np.ndarray) -> np.ndarray:
    """The same integers (limbs >= 0, each below 2^62) with every limb in [0, 2^24): carries
    propagated into as many more limbs as they need."""
    X = np.asarray(X, dtype=np.int64)
    L, n = X.shape
    out = np.concatenate([X, np.zeros((3, n), dtype=np.int64)])
    for a in range(L + 2):
        out[a + 1] += out[a] >> LIMB_BITS
        out[a] &= _MASK
    top = L + 3
    while top > L and not out[top - 1].any():
        top -= 1
    return out[:top]


def at_least_pow2(X: np.ndarray, bits: int) -> np.ndarray:
    """Per value: is sum_a X[a] 2^(24 a) >= 2^bits (X normalized)?"""
    out = np.zeros(X.shape[1], dtype=bool)
    for a in range(X.shape[0]):
        if LIMB_BITS * (a + 1) > bits:
            out |= (X[a] >> max(0, bits - LIMB_BITS * a)) != 0
    return out


def square(X: np.ndarray) -> np.ndarray:
    """Normalized limbs of x^2 for the normalized limbs X (L, n) of each x."""
    L, n = X.shape
    out = np.zeros((2 * L, n), dtype=np.int64)
    for a in range(L):  # each product < 2^49; a row gathers at most L of them (L < 2^13)
        out[2 * a] += X[a] * X[a]
        if a + 1 < L:
            out[2 * a + 1 : a + L] += 2 * X[a] * X[a + 1 :]
    return normalize(out)


def weight_limbs(w: Sequence[int]) -> np.ndarray:
    """(T, K) float64 16-bit limbs of the non-negative ints w (the weights of weighted_sum)."""
    top = max(map(int.bit_length, map(int, w)), default=0)
    K = max(1, -(-top // _W_BITS))
    raw = b"".join([int(v).to_bytes(2 * K, "little") for v in w])
    return np.frombuffer(raw, dtype="<u2").reshape(len(w), K).astype(np.float64)


@functools.cache
def _shifts(L: int, K: int) -> np.ndarray:
    """(L, 1, K) object array of 2^(24 a + 16 k): the place of each limb product."""
    out = np.empty((L, 1, K), dtype=object)
    for a in range(L):
        for k in range(K):
            out[a, 0, k] = 1 << (LIMB_BITS * a + _W_BITS * k)
    return out


def _combine(M: np.ndarray) -> list[int]:
    """[sum_a,k M[a, c, k] 2^(24 a + 16 k) for each c] for exact non-negative products M."""
    L, C, K = M.shape
    if C == 0:
        return []
    terms = np.asarray(M, dtype=np.int64).astype(object) * _shifts(L, K)
    return list(terms.sum(axis=(0, 2)))


def _one_blas_thread(fn):
    """Run fn with BLAS on one thread: these products are small, and threads spinning on a
    shared machine only add CPU time."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with _BLAS.limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return run


@_one_blas_thread
def weighted_sum(w: Sequence[int] | np.ndarray, X: np.ndarray) -> list[int]:
    """[sum_t w_t x_tc for each c]: w non-negative ints (T of them, or their weight_limbs),
    X (L, T, C) normalized 24-bit limbs of the x_tc."""
    L, T, C = X.shape
    W = w if isinstance(w, np.ndarray) else weight_limbs(w)
    if W.shape[0] != T:
        raise ValueError("weighted_sum: one weight per row")
    step = max(1, min(_ROWS, _ELEMS // max(1, C * L)))  # rows turned into float64 at once
    out = [0] * C
    for lo in range(0, T, _ROWS):  # at most 2^13 rows per exact float64 sum
        M = np.zeros((L, C, W.shape[1]))
        for s in range(lo, min(T, lo + _ROWS), step):
            e = min(s + step, lo + _ROWS, T)
            M += np.tensordot(X[:, s:e].astype(np.float64), W[s:e], axes=([1], [0]))
        out = [u + v for u, v in zip(out, _combine(M), strict=True)]
    return out


@_one_blas_thread
def power_sums(
    y: int, n: int, mod: int, maps: Sequence[Callable[[slice], np.ndarray]]
) -> list[int]:
    """[sum_i y^i x_i mod ``mod`` for each map]: ``map(cols)`` gives the normalized limbs of
    x_i for i in that slice of range(n) (asked for a chunk at a time)."""
    B = min(_ROWS, max(1, n))
    P, p = [0] * B, 1
    for t in range(B):
        P[t] = p
        p = p * y % mod
    Y, W = p, weight_limbs(P)  # y^B and the limbs of y^0..y^(B-1)
    totals = [0] * len(maps)
    for lo in range(0, n, _CHUNK):  # _CHUNK is a multiple of B (or n < B)
        cols = slice(lo, min(n, lo + _CHUNK))
        for f_i, f in enumerate(maps):
            X = np.ascontiguousarray(f(cols), dtype=np.float64)
            L, cnt = X.shape
            nb = -(-cnt // B)
            if nb * B != cnt:
                X = np.concatenate([X, np.zeros((L, nb * B - cnt))], axis=1)
            # block j's sum_t y^t x_(jB+t), one exact product: (L nb, B) @ (B, K)
            s = _combine((X.reshape(L * nb, B) @ W).reshape(L, nb, W.shape[1]))
            yb, acc = pow(Y, lo // B, mod), 0
            for sj in s:
                acc += yb * sj
                yb = yb * Y % mod
            totals[f_i] = (totals[f_i] + acc) % mod
    return totals


def power_sum(y: int, X: np.ndarray, mod: int) -> int:
    """sum_i y^i x_i mod ``mod`` for the normalized limbs X (L, n) of x_0..x_(n-1)."""
    return power_sums(y, X.shape[1], mod, [lambda cols: X[:, cols]])[0]


def pack(X: np.ndarray, width: int) -> PackedInts:
    """The integers of the limbs X (L, n) as PackedInts (OverflowError if one needs more)."""
    X = normalize(X)
    L, n = -(-width // 3), X.shape[1]
    if X.shape[0] > L:
        if X[L:].any():
            raise OverflowError("pack: a value does not fit in the width")
        X = X[:L]
    elif X.shape[0] < L:
        X = np.concatenate([X, np.zeros((L - X.shape[0], n), dtype=np.int64)])
    b = np.empty((n, L, 3), dtype=np.uint8)
    Xr = X[::-1].T
    b[:, :, 0], b[:, :, 1], b[:, :, 2] = Xr >> 16, (Xr >> 8) & 0xFF, Xr & 0xFF
    b = b.reshape(n, 3 * L)
    if width != 3 * L:
        if b[:, : 3 * L - width].any():
            raise OverflowError("pack: a value does not fit in the width")
        b = b[:, 3 * L - width :]
    return PackedInts(b.tobytes(), width)


def linked_sum(X: np.ndarray, g: Sequence[int], counts: Sequence[int], slots: int,
               slot_bits: int, rho: Sequence[int]) -> int:  # fmt: skip
    """sum_j rho_j sum_k 2^(w k) sum_i g_i x_jki for the normalized limbs X of the x's, flat
    in (ciphertext j, slot k, bit i) order, ciphertext j having counts[j] slots of len(g) bits
    (all but the last ``slots``), w = ``slot_bits``."""
    ell, n, k = len(g), X.shape[1], len(counts)
    m = sum(counts)
    if n != m * ell:
        raise ValueError("linked_sum: one column per bit")
    U = digit_sums(X, g)
    pad = k * slots - m
    if pad:
        U = np.concatenate([U, np.zeros((U.shape[0], pad), dtype=np.int64)], axis=1)
    per_slot = weighted_sum(list(rho), U.reshape(U.shape[0], k, slots))
    return sum(v << (slot_bits * kk) for kk, v in enumerate(per_slot))


def digit_sums(X: np.ndarray, g: Sequence[int]) -> np.ndarray:
    """Normalized limbs of u_c = sum_i g_i x_ci for the limbs X of the x's, flat in (c, i)
    order (len(g) per c), basis values g_i below 2^35."""
    (L, n), ell = X.shape, len(g)
    if n % ell or max(g) >= 1 << 35:
        raise ValueError("digit_sums: len(g) columns per value, basis values below 2^35")
    return normalize(X.reshape(L, n // ell, ell) @ np.asarray(g, dtype=np.int64))  # exact


def total(X: np.ndarray) -> int:
    """sum_i x_i for the normalized limbs X (L, n)."""
    step = 1 << 30  # int64 column sums of 24-bit limbs stay exact
    return sum(
        int(X[a, lo : lo + step].sum()) << (LIMB_BITS * a)
        for a in range(X.shape[0])
        for lo in range(0, X.shape[1], step)
    )


def square_total(X: np.ndarray) -> int:
    """sum_i x_i^2 for the normalized limbs X (L, n)."""
    return sum(total(square(X[:, lo : lo + _CHUNK])) for lo in range(0, X.shape[1], _CHUNK))
