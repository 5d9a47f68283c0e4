"""The ceremony's messages: one addressed body of bytes per (sender, recipient, round).

A body is a framed encoding of the round's phase name, its number and named fields (signed
integers, lists of field elements, numpy arrays of sieve residues). Only bytes cross between
parties, so every body can be sealed to its recipient (deepchain.crypto.identity.seal) and
signed by its sender, and the relay (in process here, the platform in production) never sees
a field. ``decode`` rejects anything malformed with CryptoFormatError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepchain.crypto.serialize import CryptoFormatError, Reader, Writer

MAGIC = b"DKGM"
_DTYPES = {1: np.uint16, 2: np.int64, 3: np.uint64}
_CODES = {np.dtype(np.uint16): 1, np.dtype(np.int64): 2, np.dtype(np.uint64): 3}
MAX_FIELDS = 64


@dataclass(frozen=True)
class Message:
    """One addressed body: what the relay stores and forwards (sealed, in production)."""

    sender: int
    recipient: int
    round: int
    body: bytes


@dataclass(frozen=True)
class Body:
    """A decoded body: the phase it belongs to, its round and its named fields."""

    phase: str
    round: int
    fields: dict[str, Any]


def _signed(w: Writer, x: int) -> None:
    x = int(x)
    w.u8(1 if x < 0 else 0)
    w.var(-x if x < 0 else x)


def _read_signed(r: Reader) -> int:
    neg = r.u8()
    if neg not in (0, 1):
        raise CryptoFormatError("bad sign byte")
    x = r.var()
    return -x if neg else x


def _array(w: Writer, a: np.ndarray) -> None:
    a = np.ascontiguousarray(a)
    if a.dtype in (np.int32, np.int64) and (a.size == 0 or (a.min() >= 0 and a.max() < 1 << 16)):
        a = a.astype(np.uint16)
    code = _CODES.get(a.dtype)
    if code is None:
        raise ValueError(f"unsupported array dtype {a.dtype}")
    w.u8(code)
    w.u8(a.ndim)
    for s in a.shape:
        w.u32(s)
    w.parts.append(memoryview(a).cast("B"))  # joined once by getvalue, not copied here


def _read_array(r: Reader) -> np.ndarray:
    code = r.u8()
    if code not in _DTYPES:
        raise CryptoFormatError("bad array dtype")
    dt = np.dtype(_DTYPES[code])
    ndim = r.u8()
    if ndim > 4:
        raise CryptoFormatError("array has too many dimensions")
    shape = tuple(r.u32() for _ in range(ndim))
    count = int(np.prod(shape)) if shape else 1
    # read-only views of the body (no copy): sieve residues stay uint16
    return np.frombuffer(r.view(count * dt.itemsize), dtype=dt).reshape(shape)


def encode(phase: str, round_no: int, fields: dict[str, Any]) -> bytes:
    """Frame (phase, round, fields); values: int, list[int] (>= 0), ndarray, list[ndarray]."""
    w = Writer(MAGIC)
    ph = phase.encode()
    w.u8(len(ph))
    w.parts.append(ph)
    w.u32(round_no)
    w.u8(len(fields))
    for name, value in fields.items():
        nb = name.encode()
        w.u8(len(nb))
        w.parts.append(nb)
        if isinstance(value, np.ndarray):
            w.u8(ord("A"))
            _array(w, value)
        elif isinstance(value, int | np.integer) or type(value).__name__ == "mpz":
            w.u8(ord("i"))
            _signed(w, int(value))
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            w.u8(ord("S"))
            w.u32(len(value))
            for a in value:
                _array(w, a)
        elif isinstance(value, list):
            w.u8(ord("L"))
            # C-level passes (map, min, max) over long lists of shares
            xs = value if set(map(type, value)) <= {int} else [int(x) for x in value]
            if xs and min(xs) < 0:
                raise ValueError("list fields carry non-negative integers")
            width = max(1, (max(xs, default=0).bit_length() + 7) // 8)
            w.u32(len(xs))
            w.u32(width)
            w.parts.append(b"".join([x.to_bytes(width, "big") for x in xs]))
        else:
            raise ValueError(f"unsupported field type for {name!r}")
    return w.getvalue()


def decode(data: bytes) -> Body:
    """Parse a body framed by ``encode``; CryptoFormatError on anything malformed."""
    r = Reader(data, MAGIC)
    phase = r.take(r.u8()).decode("ascii", errors="strict")
    round_no = r.u32()
    count = r.u8()
    if count > MAX_FIELDS:
        raise CryptoFormatError("too many fields")
    fields: dict[str, Any] = {}
    for _ in range(count):
        name = r.take(r.u8()).decode("ascii", errors="strict")
        tag = chr(r.u8())
        if tag == "A":
            fields[name] = _read_array(r)
        elif tag == "i":
            fields[name] = _read_signed(r)
        elif tag == "S":
            fields[name] = [_read_array(r) for _ in range(r.u32())]
        elif tag == "L":
            k, width = r.u32(), r.u32()
            if width == 0:
                raise CryptoFormatError("zero-width integer list")
            raw = r.take(k * width)
            fields[name] = [
                int.from_bytes(raw[i : i + width], "big") for i in range(0, k * width, width)
            ]
        else:
            raise CryptoFormatError(f"unknown field tag {tag!r}")
    r.end()
    return Body(phase=phase, round=round_no, fields=fields)
