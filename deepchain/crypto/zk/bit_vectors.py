"""The slot-bound proof's per-bit vectors as numpy limbs (``zk.packed``): the bits, the sums
t0, t1 over the masks, the responses z = x + e beta with their range, and the verifier's
reading of the responses. ``zk.slot_bound`` holds the protocol; these are its vector steps,
each equal to the loop in its docstring."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepchain.crypto.assets import R
from deepchain.crypto.security_params import K_BITS, KAPPA
from deepchain.crypto.zk.packed import (
    PackedInts,
    at_least_pow2,
    limbs_of_ints,
    normalize,
    pack,
    power_sums,
    square,
    to_ints,
)

__all__ = ["N_LIMBS", "ZB", "Z_BYTES", "binary", "mask_sums", "response_limbs", "responses"]

ZB = K_BITS + KAPPA  # bits of a response z = x + e beta
Z_BYTES = (ZB + 7) // 8
N_LIMBS = -(-Z_BYTES // 3)  # 24-bit limbs of a response


def binary(bits: list[int]) -> np.ndarray | None:
    """The bits as an int64 array if every one is 0 or 1 (the honest case), else None."""
    if not set(bits) <= {0, 1}:
        return None
    return np.frombuffer(bytes(bits), dtype=np.uint8).astype(np.int64)


def mask_sums(
    y: int, XL: np.ndarray, beta: np.ndarray | None, xs: list[int], bits: list[int]
) -> tuple[int, int]:
    """(t0, t1) = (sum y^idx x^2, sum y^idx x (2 beta - 1)) mod r for the masks xs (limbs XL)."""
    if beta is None:  # bits other than 0 and 1 (a cheating prover): the sums as defined
        t0 = t1 = 0
        yi = 1
        for x, v in zip(xs, bits, strict=True):
            t0, t1, yi = t0 + yi * x * x, t1 + yi * x * (2 * v - 1), yi * y % R
        return t0 % R, t1 % R
    sq, sx, sb = power_sums(y, XL.shape[1], R, [lambda c: square(XL[:, c]), lambda c: XL[:, c],
                                                lambda c: XL[:, c] * beta[c]])  # fmt: skip
    return sq, (2 * sb - sx) % R


def responses(
    XL: np.ndarray, beta: np.ndarray | None, e: int, xs: list[int], bits: list[int], nd: int
) -> tuple[Sequence[int], list[int], bool]:
    """(z, z', ok): z = x + e beta for the first nd bits (the digits'), z' for the rest (the
    slack's), ok iff every one lies in [2^K, 2^ZB)."""
    if beta is None:
        z = [x + e * v for x, v in zip(xs, bits, strict=True)]
        ok = all(1 << K_BITS <= v < 1 << ZB for v in z)
        return z[:nd], z[nd:], ok
    Z = normalize(XL + limbs_of_ints([e], XL.shape[0]) * beta)
    if not (at_least_pow2(Z, K_BITS).all() and not at_least_pow2(Z, ZB).any()):
        return to_ints(Z[:, :nd]), to_ints(Z[:, nd:]), False
    zp = pack(Z, Z_BYTES)
    return PackedInts(zp.raw[: nd * Z_BYTES], Z_BYTES), list(zp[nd:]), True


def response_limbs(z: Sequence[int], zs: Sequence[int]) -> np.ndarray | None:
    """The limbs of the responses z, or None unless each of z, z' is an int in [2^K, 2^ZB)."""
    ok = lambda v: isinstance(v, int) and 1 << K_BITS <= v < 1 << ZB  # noqa: E731
    if not all(map(ok, zs)):
        return None
    if not (isinstance(z, PackedInts) and z.width == Z_BYTES):
        if not all(map(ok, z)):
            return None
        z = PackedInts.of(z, Z_BYTES)
    X = z.limbs()
    return X if at_least_pow2(X, K_BITS).all() and not at_least_pow2(X, ZB).any() else None
