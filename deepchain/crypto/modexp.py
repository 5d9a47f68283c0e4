"""Same-exponent modular exponentiation: [b^e mod m for b in bases], one e and one m.

A party raises every ciphertext of an aggregate to its secret 2 Delta s_i (its partial
decryptions, ``paillier.partial_decrypt_all``): 8 such exponentiations run at once in the
native multi-buffer kernel (``deepchain/crypto/native/_modexp.c``: Montgomery products in
52-bit limbs on AVX-512 IFMA, a fixed-window schedule over a public number of exponent bits
with constant-time table reads). It is used when the extension was built (scripts/setup.sh),
the CPU has AVX-512 IFMA, the modulus is odd and at most :data:`MAX_BITS` bits, and the
environment does not set ``DEEPCHAIN_NATIVE=0``; otherwise gmpy2.powmod computes the same values.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import gmpy2

try:
    from deepchain.crypto.native import _modexp
except ImportError:  # not built (no compiler) or built for another interpreter
    _modexp = None

#: largest modulus the kernel handles (n^2 for 3072-bit n is 6144 bits)
MAX_BITS = 52 * 128 - 2
_LIMB = 1 << 52
_CPU_OK = bool(_modexp is not None and _modexp.available())


def native_available() -> bool:
    """True if the kernel is built and this CPU (and OS) run AVX-512 IFMA."""
    return _CPU_OK


def native_enabled() -> bool:
    """True if :func:`powmod_same_exp` uses the kernel (available and not DEEPCHAIN_NATIVE=0)."""
    return _CPU_OK and os.environ.get("DEEPCHAIN_NATIVE", "1") != "0"


def backend() -> str:
    """ "ifma" or "gmpy2": what :func:`powmod_same_exp` runs now."""
    return "ifma" if native_enabled() else "gmpy2"


@lru_cache(maxsize=16)
def _modulus(m: int) -> tuple[int, bytes, bytes, int]:
    """(bytes per value, m, R^2 mod m, k0 = -m^-1 mod 2^52) for the kernel's R = 2^(52 L)."""
    nb = (m.bit_length() + 7) // 8
    L = _modexp.limbs(8 * nb)
    rr = pow(2, 2 * 52 * L, m)
    k0 = (-pow(m, -1, _LIMB)) % _LIMB
    return nb, m.to_bytes(nb, "little"), rr.to_bytes(nb, "little"), k0


def powmod_same_exp(bases: Sequence[int], e: int, m: int, e_bits: int | None = None) -> list[int]:
    """[b^e mod m for b in bases] (ints), equal to gmpy2.powmod on every input.

    ``e_bits`` (>= e.bit_length()) is the public length of the exponent schedule: pass a bound
    that does not depend on a secret exponent (the kernel's time depends only on it, on m's
    size and on len(bases)). Negative exponents, even or tiny moduli go to gmpy2.
    """
    e, m = int(e), int(m)
    bits = e.bit_length() if e_bits is None else int(e_bits)
    if bits < e.bit_length():
        raise ValueError("e_bits is shorter than the exponent")
    if (
        not bases
        or e < 0
        or m < 3
        or not m & 1
        or m.bit_length() > MAX_BITS
        or not native_enabled()
    ):
        return [int(gmpy2.powmod(b, e, m)) for b in bases]
    nb, mb, rr, k0 = _modulus(m)
    data = b"".join((int(b) % m).to_bytes(nb, "little") for b in bases)
    eb = e.to_bytes(max(1, (bits + 7) // 8), "little")
    out = _modexp.powm(data, len(bases), eb, bits, mb, rr, k0)
    return [int.from_bytes(out[k * nb : (k + 1) * nb], "little") % m for k in range(len(bases))]
