"""BLS12-381 G1 points and scalars as the slot-bound proof (and its L2 part) holds them: 48-byte
compressed points (the ZCash encoding of py-arkworks-bls12381), subgroup-checked when read, and
scalars reduced mod r."""

from __future__ import annotations

from py_arkworks_bls12381 import G1Point, Scalar

from deepchain.crypto.assets import R
from deepchain.crypto.serialize import CryptoFormatError

__all__ = ["POINT_BYTES", "point_bytes", "point_from_bytes", "scalar"]

POINT_BYTES = 48


def scalar(x: int) -> Scalar:
    """x mod r as a Scalar."""
    # from_le_bytes is about 25x faster than Scalar(int) in the binding
    return Scalar.from_le_bytes((x % R).to_bytes(32, "little"))


def point_bytes(p: G1Point) -> bytes:
    """The 48-byte compressed encoding of p."""
    return bytes(p.to_compressed_bytes())


def point_from_bytes(b: bytes, owner: str) -> G1Point:
    """The point b encodes; CryptoFormatError (naming ``owner``) unless it is a valid point of
    the prime-order subgroup."""
    try:
        p = G1Point.from_compressed_bytes(b)
    except Exception as exc:  # the binding raises its own error types
        raise CryptoFormatError(f"{owner}: bad G1 point") from exc
    if not p.is_in_subgroup():
        raise CryptoFormatError(f"{owner}: G1 point outside the subgroup")
    return p
