"""The injectable randomness every prover, key generator and ceremony draws from.

A caller passes anything with ``getrandbits(k)`` (``random.Random(seed)`` in tests, for
reproducible transcripts); ``None`` means the system CSPRNG (``secrets.SystemRandom``).
"""

from __future__ import annotations

import secrets
from typing import Protocol

__all__ = ["RNG", "randbelow", "rng_or_system"]


class RNG(Protocol):
    def getrandbits(self, k: int) -> int: ...


_SYSRAND = secrets.SystemRandom()


def rng_or_system(rng: RNG | None) -> RNG:
    """The injected randomness, or the system CSPRNG when none is given."""
    return _SYSRAND if rng is None else rng


def randbelow(rng: RNG, n: int) -> int:
    """Uniform integer in [0, n) by rejection sampling on getrandbits."""
    k = int(n).bit_length()
    while True:
        x = int(rng.getrandbits(k))
        if x < n:
            return x
