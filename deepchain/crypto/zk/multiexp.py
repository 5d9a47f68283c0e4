"""Multi-exponentiation prod_j b_j^e_j mod m, shared by the batched verifiers."""

from __future__ import annotations

from typing import Any

import gmpy2
from gmpy2 import mpz

__all__ = ["multi_exp"]


def multi_exp(bases: list[int], exps: list[int], mod: int) -> mpz:
    """prod b_j^e_j mod `mod` for e_j >= 0 (Pippenger's bucket method, c-bit windows)."""
    m = mpz(mod)
    if not bases:
        return mpz(1)
    nbits = max(int(e).bit_length() for e in exps)
    if nbits == 0:
        return mpz(1)
    # c-bit windows: ceil(nbits / c) rounds of one product per base and two per bucket
    c = min(range(1, 13), key=lambda c: -(-nbits // c) * (len(bases) + (2 << c)))
    mask = (1 << c) - 1
    bs = [mpz(b) % m for b in bases]
    es = [int(e) for e in exps]
    acc = mpz(1)
    for win in reversed(range(-(-nbits // c))):
        if acc != 1:
            acc = gmpy2.powmod(acc, 1 << c, m)
        buckets: list[Any] = [None] * (1 << c)
        shift = win * c
        for b, e in zip(bs, es, strict=True):
            d = (e >> shift) & mask
            if d:
                x = buckets[d]
                buckets[d] = b if x is None else x * b % m
        running, total = mpz(1), mpz(1)
        for d in range(mask, 0, -1):  # sum_d d * bucket_d by running products
            x = buckets[d]
            if x is not None:
                running = running * x % m
            if running != 1:
                total = total * running % m
        acc = acc * total % m
    return acc
