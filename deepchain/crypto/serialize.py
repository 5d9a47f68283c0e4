"""Canonical, versioned encodings for the threshold Paillier objects.

JSON: canonical JSON (``deepchain.canonical``) with a ``"version": 1`` field, a ``"type"`` tag
and every big integer as lowercase hex. Bytes: a 4-byte magic, a version byte, then fields.
Big integers in bytes are either fixed width (ciphertexts: the byte length of n^2) or
length-prefixed minimal big-endian (u32 length). Parsers reject anything non-canonical or out
of range with ``CryptoFormatError``.
"""

from __future__ import annotations

import struct
from typing import Any

from deepchain.canonical import hex_to_int, int_to_hex

VERSION = 1


class CryptoFormatError(ValueError):
    """Malformed, non-canonical, out-of-range or wrong-version crypto data."""


# -- JSON helpers -------------------------------------------------------------------------
def check_header(d: Any, type_: str) -> dict:
    """Check that ``d`` is a dict with the expected type tag and version 1."""
    if not isinstance(d, dict):
        raise CryptoFormatError(f"{type_}: expected a JSON object, got {type(d).__name__}")
    if d.get("version") != VERSION:
        raise CryptoFormatError(f"{type_}: unsupported version {d.get('version')!r}")
    if d.get("type") != type_:
        raise CryptoFormatError(f"{type_}: wrong type tag {d.get('type')!r}")
    return d


def get_hex(d: dict, key: str, ctx: str) -> int:
    """Parse canonical hex field ``key`` of ``d``."""
    if key not in d:
        raise CryptoFormatError(f"{ctx}: missing field {key!r}")
    try:
        return hex_to_int(d[key], name=f"{ctx}.{key}")
    except ValueError as exc:
        raise CryptoFormatError(str(exc)) from exc


def get_secret_hex(d: dict, key: str, ctx: str) -> int:
    """Parse canonical hex field ``key`` of a SECRET object: errors never quote the value."""
    if key not in d:
        raise CryptoFormatError(f"{ctx}: missing field {key!r}")
    v = d[key]
    if not isinstance(v, str) or not v or any(ch not in "0123456789abcdef" for ch in v):
        raise CryptoFormatError(f"{ctx}.{key}: expected lowercase hex digits")
    if len(v) > 1 and v[0] == "0":
        raise CryptoFormatError(f"{ctx}.{key}: hex has a leading zero")
    return int(v, 16)


def get_int(d: dict, key: str, ctx: str, lo: int, hi: int) -> int:
    """Parse a small JSON integer field in [lo, hi]."""
    v = d.get(key)
    if type(v) is not int or not lo <= v <= hi:
        raise CryptoFormatError(f"{ctx}: field {key!r} must be an integer in [{lo}, {hi}]")
    return v


def get_hex_list(d: dict, key: str, ctx: str) -> list[int]:
    v = d.get(key)
    if not isinstance(v, list):
        raise CryptoFormatError(f"{ctx}: field {key!r} must be a list")
    out = []
    for k, s in enumerate(v):
        try:
            out.append(hex_to_int(s, name=f"{ctx}.{key}[{k}]"))
        except ValueError as exc:
            raise CryptoFormatError(str(exc)) from exc
    return out


def hexs(xs: list[int] | tuple[int, ...]) -> list[str]:
    return [int_to_hex(int(x)) for x in xs]


# -- range checks -------------------------------------------------------------------------
def check_unit(x: int, n: int, name: str) -> int:
    """Require x in [1, n^2) and gcd(x, n) = 1 (an element of Z*_{n^2})."""
    from gmpy2 import gcd

    if not 1 <= x < n * n:
        raise CryptoFormatError(f"{name}: not in [1, n^2)")
    if gcd(x, n) != 1:
        raise CryptoFormatError(f"{name}: not coprime to n")
    return x


# -- bytes helpers ------------------------------------------------------------------------
class Writer:
    def __init__(self, magic: bytes) -> None:
        if len(magic) != 4:
            raise ValueError("a magic is 4 bytes")
        self.parts: list[bytes | memoryview] = [magic, bytes([VERSION])]

    def u8(self, x: int) -> None:
        self.parts.append(struct.pack(">B", x))

    def u32(self, x: int) -> None:
        self.parts.append(struct.pack(">I", x))

    def u64(self, x: int) -> None:
        self.parts.append(struct.pack(">Q", x))

    def fixed(self, x: int, width: int) -> None:
        self.parts.append(int(x).to_bytes(width, "big"))

    def var(self, x: int) -> None:
        """Length-prefixed minimal big-endian non-negative integer."""
        x = int(x)
        if x < 0:
            raise ValueError("only non-negative integers")
        b = x.to_bytes((x.bit_length() + 7) // 8, "big")
        self.u32(len(b))
        self.parts.append(b)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


class Reader:
    def __init__(self, data: bytes, magic: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CryptoFormatError("expected bytes")
        self.data = bytes(data)
        self.pos = 0
        if self.take(4) != magic:
            raise CryptoFormatError(f"bad magic, expected {magic!r}")
        v = self.u8()
        if v != VERSION:
            raise CryptoFormatError(f"unsupported version {v}")

    def take(self, k: int) -> bytes:
        if k < 0 or self.pos + k > len(self.data):
            raise CryptoFormatError("truncated data")
        b = self.data[self.pos : self.pos + k]
        self.pos += k
        return b

    def view(self, k: int) -> memoryview:
        """The next k bytes without copying them (a view that keeps the data alive)."""
        if k < 0 or self.pos + k > len(self.data):
            raise CryptoFormatError("truncated data")
        b = memoryview(self.data)[self.pos : self.pos + k]
        self.pos += k
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack(">Q", self.take(8))[0]

    def fixed(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")

    def var(self) -> int:
        k = self.u32()
        b = self.take(k)
        if k and b[0] == 0:
            raise CryptoFormatError("non-minimal integer encoding")
        return int.from_bytes(b, "big")

    def end(self) -> None:
        if self.pos != len(self.data):
            raise CryptoFormatError("trailing bytes")
