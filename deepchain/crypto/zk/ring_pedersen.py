"""Ring-Pedersen parameters (N^, s, t) and their proof of well-formedness Pi^prm.

CGGMP'20 (Canetti, Gennaro, Goldfeder, Makriyannis, Peled, "UC Non-Interactive, Proactive,
Threshold ECDSA with Identifiable Aborts", ePrint 2021/060), section 3.3 "Ring-Pedersen
parameters" and Figure 17 "Ring-Pedersen Parameters ZK-Proof Pi^prm".

Generation (the key holder, who knows phi(N^)): tau uniform in Z*_N^, lambda uniform in
Z_phi(N^); t = tau^2 mod N^, s = t^lambda mod N^. Then tau, lambda and the factors of N^ are
forgotten. A ring-Pedersen commitment s^M t^mu mod N^ is then binding to the INTEGER M under
the strong RSA assumption, because nobody knows log_t s, a square root of s or t, or the order
of QR_N^ (Damgard-Fujisaki 2002). Hash-derived bases s = u_s^2 would not do: u_s is public, so
anyone opens s^M to the half-integer M = A/2 (S = u_s^A), which beats Proof_PK's range check.

Pi^prm (proves s in <t>, i.e. knowledge of lambda with s = t^lambda mod N^), repeated
m = PRM_M times in parallel with one Fiat-Shamir challenge of m bits e_1..e_m:
    prover:   a_i uniform in Z_phi(N^), A_i = t^a_i mod N^
    challenge e = H(context, N^, s, t, A_1..A_m), e_i = bit i of e
    response: z_i = a_i + e_i lambda mod phi(N^)
    verifier: t^z_i = A_i s^e_i mod N^ for every i (and N^, s, t, A_i units, z_i < N^).
Soundness error 2^-m (a cheating prover must guess every e_i); honest-verifier zero knowledge
(z_i is uniform mod phi(N^) and independent of lambda). phi(N^) here is the order p'q' of
QR_N^ for N^ = (2p'+1)(2q'+1) (t is a square, so its order divides p'q').

Today the key holder is the Paillier dealer and N^ = n (a product of safe primes whose factors
it discards with the shares). A dealerless key generation can produce the same public object
jointly (see docs/ARCHITECTURE.md, "Ring-Pedersen parameters"); verifiers only need
``RingPedersenParams`` and ``verify_prm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gmpy2
from gmpy2 import mpz

from deepchain.canonical import hex_to_int, int_to_hex
from deepchain.crypto.randomness import RNG, randbelow, rng_or_system
from deepchain.crypto.zk.transcript import ProofContext, Transcript

__all__ = [
    "PRM_M",
    "PRM_TAG",
    "RingPedersenError",
    "RingPedersenParams",
    "generate_ring_pedersen",
    "prm_challenge",
    "prove_prm",
    "verify_prm",
]

PRM_M = 128  # parallel repetitions of Pi^prm: soundness error 2^-128
PRM_TAG = "deepchain/pi-prm/v1"
NAMES = ("N_hat", "s", "t")


class RingPedersenError(ValueError):
    """Malformed ring-Pedersen parameters (bad encoding, out of range, wrong sizes)."""


@dataclass(frozen=True)
class RingPedersenParams:
    """Public (N^, s, t) with Pi^prm = (A_1..A_m, z_1..z_m): s = t^lambda mod N^."""

    N_hat: int
    s: int
    t: int
    A: tuple[int, ...]
    z: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "ring_pedersen",
            "version": 1,
            "N_hat": int_to_hex(self.N_hat),
            "s": int_to_hex(self.s),
            "t": int_to_hex(self.t),
            "A": [int_to_hex(x) for x in self.A],
            "z": [int_to_hex(x) for x in self.z],
        }

    @classmethod
    def from_json(cls, d: Any) -> RingPedersenParams:
        """Parse; raises RingPedersenError on anything malformed (the proof is not checked)."""
        if not isinstance(d, dict) or d.get("type") != "ring_pedersen" or d.get("version") != 1:
            raise RingPedersenError("RingPedersenParams: expected a ring_pedersen object v1")
        if set(d) != {"type", "version", "N_hat", "s", "t", "A", "z"}:
            raise RingPedersenError("RingPedersenParams: unexpected fields")
        try:
            N_hat, s, t = (hex_to_int(d[k], name=f"RingPedersenParams.{k}") for k in NAMES)
            A_raw, z_raw = d["A"], d["z"]
            if not isinstance(A_raw, list) or not isinstance(z_raw, list):
                raise RingPedersenError("RingPedersenParams: A and z must be lists")
            A = tuple(hex_to_int(x, name="RingPedersenParams.A") for x in A_raw)
            z = tuple(hex_to_int(x, name="RingPedersenParams.z") for x in z_raw)
        except RingPedersenError:
            raise
        except ValueError as exc:
            raise RingPedersenError(str(exc)) from exc
        if len(A) != PRM_M or len(z) != PRM_M:
            raise RingPedersenError(f"RingPedersenParams: Pi^prm needs {PRM_M} rounds")
        if N_hat.bit_length() < 128 or N_hat % 2 == 0:
            raise RingPedersenError("RingPedersenParams: N^ is not a plausible RSA modulus")
        return cls(N_hat=N_hat, s=s, t=t, A=A, z=z)


def _challenge_bits(ctx: ProofContext, N_hat: int, s: int, t: int, A: tuple[int, ...]) -> int:
    tr = Transcript(PRM_TAG, ctx).int("N_hat", N_hat).int("s", s).int("t", t).ints("A", A)
    return tr.challenge(PRM_M)


def generate_ring_pedersen(
    N_hat: int, phi: int, ctx: ProofContext, rng: RNG | None = None
) -> RingPedersenParams:
    """Key holder: t = tau^2, s = t^lambda mod N^ and Pi^prm; tau, lambda, a_i are forgotten.

    ``phi`` is the order of QR_N^ (p'q' for safe primes) or any multiple of it; the caller
    forgets it afterwards."""
    r = rng_or_system(rng)
    N, ph = mpz(N_hat), mpz(phi)
    while True:
        tau = mpz(randbelow(r, N))
        if tau > 1 and gmpy2.gcd(tau, N) == 1:
            break
    t = gmpy2.powmod(tau, 2, N)
    lam = mpz(randbelow(r, ph))
    s = gmpy2.powmod(t, lam, N)
    params = prove_prm(int(N), int(ph), int(s), int(t), int(lam), ctx, r)
    del tau, lam
    return params


def prove_prm(
    N_hat: int, phi: int, s: int, t: int, lam: int, ctx: ProofContext, rng: RNG | None = None
) -> RingPedersenParams:
    """Pi^prm for s = t^lam mod N^ (the prover knows lam and phi; Fig. 17 of CGGMP'20)."""
    r = rng_or_system(rng)
    N, ph, tt = mpz(N_hat), mpz(phi), mpz(t)
    if gmpy2.powmod(tt, lam, N) != s:
        raise ValueError("Pi^prm: s is not t^lambda")
    a = [mpz(randbelow(r, ph)) for _ in range(PRM_M)]
    A = tuple(int(gmpy2.powmod(tt, ai, N)) for ai in a)
    e = _challenge_bits(ctx, int(N), int(s), int(t), A)
    z = tuple(int((ai + ((e >> i) & 1) * lam) % ph) for i, ai in enumerate(a))
    return RingPedersenParams(N_hat=int(N), s=int(s), t=int(t), A=A, z=z)


def prm_challenge(params_head: tuple[int, int, int], A: tuple[int, ...], ctx: ProofContext) -> int:
    """The m-bit Pi^prm challenge e for (N^, s, t) and first messages A (bit i is e_i)."""
    N_hat, s, t = params_head
    return _challenge_bits(ctx, N_hat, s, t, A)


def _unit(x: int, N: int) -> bool:
    return 1 < x < N and gmpy2.gcd(x, N) == 1


def verify_prm(params: RingPedersenParams, ctx: ProofContext) -> bool:
    """Pi^prm: t^z_i = A_i s^e_i mod N^ for every i, e recomputed from ``ctx`` and (N^, s, t, A)."""
    if not isinstance(params, RingPedersenParams):
        return False
    N = params.N_hat
    if N.bit_length() < 128 or N % 2 == 0 or gmpy2.is_square(N):
        return False
    if not (_unit(params.s, N) and _unit(params.t, N)) or params.s == params.t:
        return False
    if len(params.A) != PRM_M or len(params.z) != PRM_M:
        return False
    if not all(_unit(x, N) for x in params.A) or not all(0 <= x < N for x in params.z):
        return False
    e = _challenge_bits(ctx, N, params.s, params.t, params.A)
    Nm, s, t = mpz(N), mpz(params.s), mpz(params.t)
    for i, (Ai, zi) in enumerate(zip(params.A, params.z, strict=True)):
        rhs = Ai * s % Nm if (e >> i) & 1 else mpz(Ai)
        if gmpy2.powmod(t, zi, Nm) != rhs:
            return False
    return True
