"""The L2 part of the slot-bound proof: the quantized update q (whose digits the slot-bound
proof commits to bit by bit) has ||q||_2^2 = sum_c q_c^2 <= B2 = c2^2, c2 the group's public L2
bound in quantized units (slack 1x).

Statement extension. Besides the slot-bound statement (``zk.slot_bound``), the integer c2
(1 <= c2 < 2^64), bound into the transcript; claim: sum_c q_c^2 <= B2 = c2^2.

Relation to the slot-bound proof. Per coordinate c the bits beta_ci have integer responses
z_ci = x_ci + e beta_ci, so the verifier computes the digit response z_d,c = sum_i g_i z_ci =
x_d,c + e d_c (d_c = q_c + b in [0, 2b]) and z_q,c = z_d,c - e b = x_q,c + e q_c with
x_q,c = sum_i g_i x_ci (``coordinate_responses``). The slack s = B2 - sum q^2 >= 0 is written in
the basis g' = bit_basis(B2) (subset sums exactly [0, B2]) as bits beta'_i; the slot-bound proof
commits to them in one more vector commitment V' = sum beta'_i G_i + r' H, bound into the
transcript with the V_j BEFORE rho and y, masks them (x'_i, A' = sum x'_i G_i + sigma' H) with
integer responses z' = x' + e beta' under the same rejection sampling as every bit, adds them
to the y-weighted quadratic bit check (so they are bits) and to the gamma-batched opening check,
not to the Paillier link. This module adds, before e (``norm_commitments``),
    U0 = u0 G_q + nu0 H,  U1 = u1 G_q + nu1 H,
    u0 = sum_c x_q,c^2,  u1 = 2 sum_c x_q,c q_c + x_s (mod r),  x_s = sum_i g'_i x'_i,
after e the response tau_U = nu0 + e nu1 (``norm_response``), and the verifier's equation
(``norm_holds``), with Z_s = sum_i g'_i z'_i = x_s + e s:
    (sum_c z_q,c^2 + e Z_s) G_q + tau_U H = U0 + e U1 + e^2 B2 G_q   (mod r).
Honest: sum z_q^2 + e Z_s = u0 + e u1 + e^2 (sum q^2 + s) and sum q^2 + s = B2.

Soundness (knowledge soundness by rewinding e, as the slot-bound proof's (i)-(ii); U0, U1 are
fixed before e). Three accepting answers for distinct e open V_j, V' to bits that are 0 or 1
and A_j, A' to masks x, x' with z = x + e beta mod r (slot-bound proof, (i)-(ii)), so
q_c = sum_i g_i beta_ci - b is an integer with |q_c| <= b and s = sum_i g'_i beta'_i an integer
in [0, B2]; then sum z_q^2 + e Z_s = u0' + e u1' + e^2 (sum q^2 + s) mod r for the openings'
u0' = sum x_q^2, u1' = 2 sum x_q q + x_s, and the equation with Pedersen binding (discrete log
in BLS12-381 G1: U0, U1 open to u0, u1 and nu0, nu1, tau_U = nu0 + e nu1) gives
(u0' - u0) + e (u1' - u1) + e^2 (sum q^2 + s - B2) = 0 mod r for three distinct e: a
polynomial of degree 2 with three roots, so its e^2 coefficient vanishes, sum_c q_c^2 + s = B2
mod r. Both sides are integers in [0, m b^2 + B2] and m b^2 + B2 < r (``check_norm_statement``,
part of the statement check), so it holds over the integers: ||q||_2^2 = B2 - s <= B2. Slack
exactly 1x: the proven set of updates is exactly the honest one. Soundness error: the
slot-bound proof's (about 2^-127 per hash query) with ell' = |B2| more bits in the y check
((m ell + ell') / r) and this degree-2 equation in e (2 / 2^K), in the random-oracle model,
assuming discrete log in BLS12-381 G1.
Honest-verifier zero knowledge: U0, U1, V', A' are perfectly hiding Pedersen commitments,
tau_U is uniform mod r, z' uniform on [2^K, 2^ZB) given acceptance (the slot-bound proof's
rejection sampling argument, now over m ell + ell' bits): a simulator picks the responses and
U1, and solves the equation for U0.

Cost: ell' = |B2| more bits (at most 128, a few kilobytes), two points, two scalars; the
prover's and verifier's extra work is one sum of m squares of integers of about 190 bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from py_arkworks_bls12381 import G1Point

from deepchain.crypto.assets import R
from deepchain.crypto.encoding import L2_BOUND_MAX
from deepchain.crypto.randomness import RNG
from deepchain.crypto.serialize import CryptoFormatError, Reader, Writer
from deepchain.crypto.zk.g1 import POINT_BYTES, point_bytes, point_from_bytes, scalar
from deepchain.crypto.zk.packed import PackedInts, digit_sums, square_total, total

__all__ = [
    "NormBound",
    "check_norm_statement",
    "coordinate_responses",
    "coordinate_square_sum",
    "norm_commitments",
    "norm_holds",
    "norm_masks",
    "norm_proof",
    "norm_response",
    "norm_values",
    "norm_verifies",
    "slack",
    "slack_bits",
]


def check_norm_statement(c2: int, b: int, length: int) -> None:
    """ValueError unless 1 <= c2 <= 2^64 - 1 and m b^2 + c2^2 < r (sum q^2 + s cannot wrap)."""
    if not (type(c2) is int and 1 <= c2 <= L2_BOUND_MAX):
        raise ValueError("the L2 bound c2 must be an integer in [1, 2^64 - 1]")
    if length * b * b + c2 * c2 >= R:
        raise ValueError("m b^2 + c2^2 must stay below the group order r")


def slack(q: list[int], c2: int) -> int:
    """s = c2^2 - sum q^2 (the honest prover's slack; negative if q is over the L2 bound)."""
    return c2 * c2 - sum(v * v for v in q)


def slack_bits(s: int, g: list[int]) -> list[int]:
    """Bits of s in [0, B2] in the basis g = bit_basis(B2): s = sum g_i bits_i (Python ints,
    B2 may exceed 64 bits)."""
    ell = len(g)
    if ell == 1:
        return [s]
    top = 1 if s >= 1 << (ell - 1) else 0
    low = s - top * g[-1]
    return [(low >> i) & 1 for i in range(ell - 1)] + [top]


def coordinate_responses(z: Sequence[int], g: list[int], b: int, e: int) -> list[int]:
    """z_q,c = sum_i g_i z_ci - e b per coordinate (z flat in (coordinate, bit) order); with
    the masks x and e = 0 it is x_q,c = sum_i g_i x_ci."""
    ell, eb = len(g), e * b
    out = []
    for pos in range(0, len(z), ell):
        u = 0
        for gi, v in zip(g, z[pos : pos + ell], strict=True):
            u += gi * v
        out.append(u - eb)
    return out


def norm_values(x_q: list[int], q: list[int], x_s: int) -> tuple[int, int]:
    """(u0, u1) = (sum x_q^2, 2 sum x_q q + x_s) mod r: the values U0 and U1 commit to."""
    u0 = sum(v * v for v in x_q) % R
    u1 = (2 * sum(x * v for x, v in zip(x_q, q, strict=True)) + x_s) % R
    return u0, u1


def norm_commitments(
    G_q: G1Point, H: G1Point, u0: int, u1: int, rng: RNG
) -> tuple[G1Point, G1Point, int, int]:
    """(U0, U1, nu0, nu1): U_i = u_i G_q + nu_i H with fresh nu_i uniform mod r."""
    nu0, nu1 = rng.getrandbits(256) % R, rng.getrandbits(256) % R
    U0 = G1Point.multiexp_unchecked([G_q, H], [scalar(u0), scalar(nu0)])
    U1 = G1Point.multiexp_unchecked([G_q, H], [scalar(u1), scalar(nu1)])
    return U0, U1, nu0, nu1


def norm_response(nu0: int, nu1: int, e: int) -> int:
    """tau_U = nu0 + e nu1 mod r."""
    return (nu0 + e * nu1) % R


def norm_holds(
    G_q: G1Point,
    H: G1Point,
    z_q: list[int],
    Z_s: int,
    e: int,
    B2: int,
    U0: G1Point,
    U1: G1Point,
    tau_U: int,
) -> bool:
    """The verifier's equation (sum z_q^2 + e Z_s) G_q + tau_U H = U0 + e U1 + e^2 B2 G_q."""
    acc = 0
    for v in z_q:
        acc += v * v
    return _norm_equation(G_q, H, acc, Z_s, e, B2, U0, U1, tau_U)


def coordinate_square_sum(z: Sequence[int], g: list[int], b: int, e: int) -> int:
    """sum_c z_q,c^2 for z_q,c = sum_i g_i z_ci - e b (``coordinate_responses``); with z packed
    (``zk.packed.PackedInts``) as sum u^2 - 2 e b sum u + m (e b)^2 on limbs, u = z_q + e b."""
    if not isinstance(z, PackedInts):
        return sum(v * v for v in coordinate_responses(z, g, b, e))
    U, eb = digit_sums(z.limbs(), g), e * b
    return square_total(U) - 2 * eb * total(U) + U.shape[1] * eb * eb


def _norm_equation(
    G_q: G1Point, H: G1Point, sq: int, Z_s: int, e: int, B2: int, U0: G1Point, U1: G1Point,
    tau_U: int,
) -> bool:  # fmt: skip
    lhs = (sq + e * Z_s - e * e * B2) % R
    pts = [G_q, H, U0, U1]
    scs = [scalar(lhs), scalar(tau_U), scalar(-1), scalar(-e)]
    return G1Point.multiexp_unchecked(pts, scs) == G1Point.identity()


def norm_masks(
    G_q: G1Point,
    H: G1Point,
    gens: list[G1Point],
    g: list[int],
    xs: list[int],
    q: list[int],
    gs: list[int],
    xss: list[int],
    rng: RNG,
) -> tuple[tuple[G1Point, G1Point, G1Point], tuple[int, int, int]]:
    """The prover's L2 messages before e for the digit bits' masks xs (basis g, coordinates q)
    and the slack bits' masks xss (basis g'): ((A', U0, U1), (sigma', nu0, nu1)) with
    A' = sum x'_i G_i + sigma' H and U0, U1 as ``norm_commitments`` of ``norm_values``."""
    sigma_s = rng.getrandbits(256) % R
    As = G1Point.multiexp_unchecked([*gens[: len(xss)], H], [*map(scalar, xss), scalar(sigma_s)])
    x_s = sum(gi * x for gi, x in zip(gs, xss, strict=True))
    u0, u1 = norm_values(coordinate_responses(xs, g, 0, 0), q, x_s)
    U0, U1, nu0, nu1 = norm_commitments(G_q, H, u0, u1, rng)
    return (As, U0, U1), (sigma_s, nu0, nu1)


def norm_proof(
    Vs: G1Point,
    r_s: int,
    pts: tuple[G1Point, ...],
    secrets: tuple[int, ...],
    e: int,
    zs: list[int],
) -> NormBound:
    """The L2 fields after e: tau' = sigma' + e r', tau_U = nu0 + e nu1 and the responses z'."""
    As, U0, U1 = pts
    sigma_s, nu0, nu1 = secrets
    return NormBound(Vs=Vs, As=As, tau_s=(sigma_s + e * r_s) % R, U0=U0, U1=U1,
                     tau_U=norm_response(nu0, nu1, e), zs=tuple(zs))  # fmt: skip


def norm_verifies(
    G_q: G1Point,
    H: G1Point,
    z: Sequence[int],
    g: list[int],
    b: int,
    e: int,
    gs: list[int],
    c2: int,
    nm: NormBound,
) -> bool:
    """The "norm" check on the digit bits' responses z (basis g, bound b) and nm's slack
    responses (basis gs = bit_basis(c2^2)): ``norm_holds`` with z_q,c = sum_i g_i z_ci - e b
    and Z_s = sum_i g'_i z'_i (sum z_q^2 by ``coordinate_square_sum``)."""
    if len(nm.zs) != len(gs):
        return False
    Z_s = sum(gi * zi for gi, zi in zip(gs, nm.zs, strict=True))
    sq = coordinate_square_sum(z, g, b, e)
    return _norm_equation(G_q, H, sq, Z_s, e, c2 * c2, nm.U0, nm.U1, nm.tau_U)


@dataclass(frozen=True)
class NormBound:
    """The L2 fields of a slot-bound proof: V' (the slack's bits), A' (their masks), tau'
    (their opening), U0, U1, tau_U and the slack bits' responses z'."""

    Vs: G1Point
    As: G1Point
    tau_s: int
    U0: G1Point
    U1: G1Point
    tau_U: int
    zs: tuple[int, ...]

    def write(self, w: Writer, z_bytes: int) -> None:
        for p in (self.Vs, self.As, self.U0, self.U1):
            w.parts.append(point_bytes(p))
        w.fixed(self.tau_s, 32)
        w.fixed(self.tau_U, 32)
        w.u32(len(self.zs))
        w.parts.append(b"".join(int(x).to_bytes(z_bytes, "big") for x in self.zs))

    @classmethod
    def read(cls, r: Reader, z_bytes: int) -> NormBound:
        Vs, As, U0, U1 = (point_from_bytes(r.take(POINT_BYTES), "NormBound") for _ in range(4))
        tau_s, tau_U = r.fixed(32), r.fixed(32)
        if tau_s >= R or tau_U >= R:
            raise CryptoFormatError("NormBound: tau not reduced mod r")
        cnt = r.u32()
        if cnt > 256:
            raise CryptoFormatError("NormBound: too many slack bits")
        raw = r.take(cnt * z_bytes)
        zs = tuple(int.from_bytes(raw[i : i + z_bytes], "big") for i in range(0, len(raw), z_bytes))
        return cls(Vs=Vs, As=As, tau_s=tau_s, U0=U0, U1=U1, tau_U=tau_U, zs=zs)

    @staticmethod
    def max_bytes(c2: int, z_bytes: int) -> int:
        """Bytes of ``write`` for the L2 bound c2: 4 points, 2 scalars, |c2^2| responses."""
        return 4 * POINT_BYTES + 2 * 32 + 4 + (c2 * c2).bit_length() * z_bytes
