"""Public parameters of a dealerless key ceremony, all derived from (n_bits, N, t).

Every number here is public and recomputed by each party and by any auditor:
- T = floor((N - 1) / 2): degree of the BGW/Shamir sharings (honest majority, 2T + 1 <= N).
- sieve primes: the odd primes l with N < l whose product M' keeps 4 M' below
  2^(n_bits/2 - RHO_BITS - log2 N); the candidates p, q are built in CRT form so that
  p mod l and q mod l are non-zero for every sieve prime (Boneh-Franklin distributed sieving).
- P1 > 2^(n_bits + 2): the field in which N = p q is computed and opened.
- P2 > 2^(2 n_bits + 2 KAPPA + 32): the field for the masked openings z1 = phi beta + N s and
  z2 = phi x + R (both below P2 for N <= 1024 parties).
- the public trial-division bound B2 and the biprimality repetitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import gmpy2
import numpy as np

from deepchain.crypto.paillier import MAX_PARTIES, MIN_N_BITS
from deepchain.crypto.security_params import KAPPA

RHO_BITS = 16  # free top part of each prime share: p_i = c_i + 4 M' rho_i
TRIAL_DIVISION_BOUND = 1 << 16  # public trial division of N by every prime below B2
SCREEN_DIVISION_BOUND = 1 << 20  # each party's own filter before the biprimality screen
BIPRIMALITY_REPS = 40  # Boneh-Franklin test repetitions: error <= 2^-40 on the chosen N
MAX_BATCHES = 64  # candidate batches before the ceremony gives up


def _odd_primes_above(lo: int):
    p = gmpy2.next_prime(max(lo, 2))
    while True:
        if p > 2:
            yield int(p)
        p = gmpy2.next_prime(p)


@dataclass(frozen=True)
class DKGParams:
    """(n_bits, N, t) and everything derived from them; ``batch`` pairs are tried per batch."""

    n_bits: int
    N: int
    t: int
    batch: int = 0  # candidate pairs per batch; 0 = the expected number for one success
    kappa: int = KAPPA
    sieve: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not 3 <= self.N <= MAX_PARTIES:
            raise ValueError(
                f"need 3 <= N <= {MAX_PARTIES} parties (an honest majority of at least 2)"
            )
        if not 1 <= self.t <= self.N:
            raise ValueError("need 1 <= t <= N")
        if self.t > self.N - self.T:
            raise ValueError("t must leave an honest majority able to decrypt (t <= N - T)")
        if self.n_bits < MIN_N_BITS or self.n_bits % 2:
            raise ValueError(f"n_bits must be even and >= {MIN_N_BITS}")
        limit = 1 << (self.half - RHO_BITS - 2 - self.N.bit_length())
        primes, m = [], 1
        for ell in _odd_primes_above(self.N + 1):
            if m * ell > limit:
                break
            primes.append(ell)
            m *= ell
        if not primes or primes[-1] >= 1 << 15:
            raise ValueError("key too small for distributed sieving")
        object.__setattr__(self, "sieve", tuple(primes))

    @property
    def T(self) -> int:
        """Degree of every field sharing: any T parties learn nothing, 2T + 1 <= N open."""
        return (self.N - 1) // 2

    @property
    def half(self) -> int:
        return self.n_bits // 2

    @cached_property
    def M4(self) -> int:
        """4 M': the CRT modulus of a prime share's low part."""
        return 4 * math.prod(self.sieve)

    @cached_property
    def rho_range(self) -> int:
        """rho_i is uniform in [0, R): sum p_i then has mean ~0.85 * 2^half."""
        return max(1, (17 << self.half) // (10 * self.M4 * self.N))

    @cached_property
    def P1(self) -> int:
        return int(gmpy2.next_prime(1 << (self.n_bits + 2)))

    @cached_property
    def P2(self) -> int:
        return int(gmpy2.next_prime(1 << (2 * self.n_bits + 2 * self.kappa + 32)))

    @property
    def delta(self) -> int:
        return math.factorial(self.N)

    @property
    def beta_bound(self) -> int:
        """beta_i is uniform in [0, n 2^KAPPA): beta = sum beta_i is ~uniform modulo n."""
        return 1 << (self.n_bits + self.kappa)

    @property
    def s_bits(self) -> int:
        """s_i in [0, 2^s_bits): N s hides floor(phi beta / N) (< 2^(n + KAPPA + 11)) in z1."""
        return self.n_bits + 2 * self.kappa + 12

    @property
    def R_bits(self) -> int:
        """R_i in [0, 2^R_bits): R hides phi x (< 2^(2 n + 10)) in z2; d_i is -R_i (i > 1)."""
        return 2 * self.n_bits + self.kappa + 12

    @property
    def coeff_bits(self) -> int:
        """Coefficients of each party's integer sharing of d_i: 2^(KAPPA) Delta times |d_i|
        (integer Shamir as in Rabin, CRYPTO '98, and Damgard-Thorbek, PKC 2007)."""
        return self.R_bits + 1 + self.kappa + self.delta.bit_length()

    @cached_property
    def prime_probability(self) -> float:
        """Heuristic Pr[p prime] for one sieved candidate (prime number theorem, Mertens)."""
        boost = math.prod(ell / (ell - 1) for ell in self.sieve)
        return min(1.0, 2.0 / (self.half * math.log(2)) * boost)

    @cached_property
    def pairs_per_batch(self) -> int:
        if self.batch:
            return self.batch
        return max(8, math.ceil(1.0 / self.prime_probability**2))

    @cached_property
    def unsieved_primorial(self) -> int:
        """Product of the odd primes below the first sieve prime: the only primes below B2
        an honestly sieved p or q can have as factors, so a cheap first test of N."""
        return math.prod(ell for ell in range(3, self.sieve[0], 2) if gmpy2.is_prime(ell))

    @cached_property
    def screen_primorial(self) -> gmpy2.mpz:
        """Product of the primes in [B2, 2^20): the parties' filter before the screen (a
        candidate with such a factor cannot be a biprime; not one of the public checks)."""
        flags = np.ones(SCREEN_DIVISION_BOUND, dtype=bool)
        flags[:2] = False
        for p in range(2, math.isqrt(SCREEN_DIVISION_BOUND) + 1):
            if flags[p]:
                flags[p * p :: p] = False
        return product_tree(
            [int(x) for x in np.nonzero(flags[TRIAL_DIVISION_BOUND:])[0] + TRIAL_DIVISION_BOUND]
        )[-1][0]

    @cached_property
    def trial_primorial(self) -> int:
        """Product of the primes below B2 (public trial division of N by one gcd)."""
        acc, p = gmpy2.mpz(1), gmpy2.mpz(2)
        while p < TRIAL_DIVISION_BOUND:
            acc *= p
            p = gmpy2.next_prime(p)
        return int(acc)


def product_tree(values: list[int]) -> list[list[gmpy2.mpz]]:
    """Levels of pairwise products, leaves first; the last level is [prod(values)]."""
    levels = [[gmpy2.mpz(v) for v in values] or [gmpy2.mpz(1)]]
    while len(levels[-1]) > 1:
        lv = levels[-1]
        levels.append(
            [lv[k] * lv[k + 1] if k + 1 < len(lv) else lv[k] for k in range(0, len(lv), 2)]
        )
    return levels


def coprime_to(values: list[int], P: gmpy2.mpz) -> list[bool]:
    """[gcd(v, P) == 1 for v in values] by a remainder tree (P mod each v at the cost of a
    few products of the whole batch, not one long division per value)."""
    if not values:
        return []
    levels = product_tree(values)
    rems = [P % levels[-1][0]]
    for lv in reversed(levels[:-1]):
        rems = [rems[k // 2] % lv[k] for k in range(len(lv))]
    return [gmpy2.gcd(r, v) == 1 for r, v in zip(rems, levels[0], strict=True)]
