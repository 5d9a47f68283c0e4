"""Fixed-base exponentiation by a comb table (BGMW): base^e mod m as a product of table entries,
for a base used many times (h_s under one key: every encryption's h_s^alpha, the proofs')."""

from __future__ import annotations

import gmpy2
from gmpy2 import mpz

WINDOW = 8  # comb table window bits


class CombTable:
    """Fixed-base table T[j][k] = base^(k * 2^(WINDOW j)) mod n^2 (BGMW / fixed-base comb).

    base^e is then a product of ceil(|e| / WINDOW) table entries: 56 multiplications for a
    448-bit alpha instead of a 448-bit square-and-multiply.
    """

    def __init__(self, base: int, mod: int, max_bits: int, window: int = WINDOW) -> None:
        self.mod = mpz(mod)
        self.base = mpz(base)
        self.window = window
        self.mask = (1 << window) - 1
        self.windows = -(-max_bits // window)
        self.max_bits = self.windows * window
        table = []
        g = self.base
        for _ in range(self.windows):
            row = [mpz(1)] * (1 << window)
            acc = mpz(1)
            for k in range(1, 1 << window):
                acc = acc * g % self.mod
                row[k] = acc
            table.append(row)
            g = acc * g % self.mod  # base^(2^(window (j+1)))
        self.table = table

    def pow(self, e: int) -> mpz:
        """base^e mod n^2 for 0 <= e; falls back to powmod beyond the table."""
        e = int(e)
        if e < 0 or e.bit_length() > self.max_bits:
            return gmpy2.powmod(self.base, e, self.mod)
        mod, mul, fmod = self.mod, gmpy2.mul, gmpy2.f_mod
        acc = mpz(1)
        if self.window == 8:
            for row, k in zip(self.table, e.to_bytes(self.windows, "little"), strict=False):
                if k:
                    acc = fmod(mul(acc, row[k]), mod)
            return acc
        mask, w = self.mask, self.window
        for row in self.table:
            if not e:
                break
            k = e & mask
            if k:
                acc = fmod(mul(acc, row[k]), mod)
            e >>= w
        return acc
