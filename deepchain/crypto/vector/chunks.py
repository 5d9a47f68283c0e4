"""Per-ciphertext work spread over a process pool (``deepchain.procpool``) in chunks, with
per-chunk randomness only when a test injected an rng."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from deepchain.crypto.randomness import RNG
from deepchain.procpool import pool_context


def chunks(k: int, parts: int) -> list[tuple[int, int]]:
    """range(k) cut into at most ``parts`` consecutive (lo, hi) chunks of near-equal size."""
    parts = max(1, min(parts, k))
    step = -(-k // parts) if k else 1
    return [(s, min(k, s + step)) for s in range(0, k, step)]


def map_chunks(
    fn: Callable[..., list], k: int, processes: int, args: Sequence[Any], rng: RNG | None = None
) -> list:
    """Run fn(*args, lo, hi, rng) over chunks of range(k), concatenating results in order."""
    ranges = chunks(k, processes if processes > 1 else 1)
    if processes <= 1 or len(ranges) <= 1:
        out: list = []
        for lo, hi in ranges:
            out.extend(fn(*args, lo, hi, rng))
        return out
    ctx = pool_context()
    seeds = seed_list(rng, len(ranges))
    with ProcessPoolExecutor(max_workers=len(ranges), mp_context=ctx) as ex:
        futs = [ex.submit(fn, *args, lo, hi, s) for (lo, hi), s in zip(ranges, seeds, strict=True)]
        out = []
        for f in futs:
            out.extend(f.result())
    return out


def seed_list(rng: RNG | None, k: int) -> list[Any]:
    """Per-chunk randomness: None (system CSPRNG in the worker) unless a test rng was injected."""
    if rng is None:
        return [None] * k
    return [random.Random(rng.getrandbits(256)) for _ in range(k)]
