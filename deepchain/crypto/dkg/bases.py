"""Public values every party and any auditor derives from the modulus N alone (hash to group).

- v: the verification base, a square in Z*_{N^2} hashed from N (nobody knows its logarithm or
  its plaintext, so v^d, the product of the commitments' constant terms, is harmless).
- h_s = (x^2)^N mod N^2 with x hashed from N: DJN's randomness base.
- g_r: the Boneh-Franklin biprimality bases, hashed from (N, r) with Jacobi symbol (g/N) = +1.
- the test ciphertext decrypted at the end of the ceremony: Enc(m*; alpha*) with m*, alpha*
  hashed from N, so anyone can recompute it and check the published decryption.
"""

from __future__ import annotations

import hashlib

import gmpy2

from deepchain.crypto.paillier import djn_encrypt
from deepchain.crypto.security_params import ALPHA_BITS

_TAG = b"deepchain/dkg/bases/v1"


def _hash_int(label: bytes, N: int, counter: int, bits: int) -> int:
    seed = _TAG + label + int(N).to_bytes((int(N).bit_length() + 7) // 8, "big")
    seed += counter.to_bytes(8, "big")
    blocks = -(-bits // 256)
    stream = b"".join(hashlib.sha256(seed + k.to_bytes(4, "big")).digest() for k in range(blocks))
    return int.from_bytes(stream, "big") >> (256 * blocks - bits)


def _unit(label: bytes, N: int, mod: int) -> int:
    ctr = 0
    while True:
        x = _hash_int(label, N, ctr, mod.bit_length() + 128) % mod
        ctr += 1
        if x > 1 and gmpy2.gcd(x, N) == 1:
            return int(x)


def verification_base(N: int) -> int:
    """v = y^2 mod N^2, y hashed from N."""
    n2 = N * N
    y = _unit(b"v", N, n2)
    return int(y * y % n2)


def randomness_base(N: int) -> int:
    """h_s = (x^2)^N mod N^2, x hashed from N."""
    x = _unit(b"h", N, N)
    return int(gmpy2.powmod(x * x, N, N * N))


def biprimality_base(N: int, r: int) -> int:
    """g_r in Z*_N with Jacobi symbol +1, hashed from (N, r)."""
    ctr = 0
    while True:
        g = _hash_int(b"g" + r.to_bytes(4, "big"), N, ctr, N.bit_length() + 128) % N
        ctr += 1
        if g > 1 and gmpy2.jacobi(g, N) == 1:
            return int(g)


def test_plaintext(N: int) -> int:
    return _hash_int(b"m", N, 0, 64)


def test_ciphertext(N: int, h_s: int) -> int:
    """Enc(m*; alpha*) with m*, alpha* hashed from N: the ceremony's public test decryption."""
    alpha = _hash_int(b"alpha", N, 0, ALPHA_BITS)
    return djn_encrypt(N, h_s, test_plaintext(N), alpha)
