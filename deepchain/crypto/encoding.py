"""Fixed-point quantization and BatchCrypt-style packing of gradient vectors.

See docs/PROTOCOL.md, section 9 (packing and fixed point). A float g becomes
q = round(g * scale) clipped to |q| <= 2^Q - 1;
each slot stores q + 2^Q (non-negative) in w = Q + 1 + ceil(log2 N_max) + 1 bits, so the sum
of up to N_max parties' slots, sum(q) + N 2^Q <= N_max (2^(Q+1) - 1) < 2^w, never carries into
the next slot. Slot 0 is the least significant.

Slots per plaintext: floor((|n| - 2 - (K + KAPPA) - (L + ceil(log2 K) + 1) - ceil(log2 N_max))
/ w), L = batch_log. This leaves room for Proof_PK's slack: the batched proof over an update of
at most 2^L ciphertexts (zk.batch_proof_pk.prove_update, r = K binary repetitions) proves each
plaintext is an integer M* with |M*| < 2^(B + K + KAPPA + L + log2 K + 1), B = slots * w (the
per-ciphertext proof's bound, 2^(B + K + KAPPA), is smaller), and the sum of N_max such values
lies in (-2^(|n|-2), 2^(|n|-2)), inside (-n/2, n/2): cheating-but-proven parties cannot wrap
the aggregate around n undetected (a negative total decrypts to a value > n/2, which
``unpack`` rejects).
At |n| = 2048, Q = 16, N_max = 16, L = 18 this gives w = 22 and 84 slots (6.10 bytes of
ciphertext per gradient). DEVIATION from the starting sheet (85 slots): its formula only reserves
the per-ciphertext proof's slack; the batched proof needs L + 8 more bits, which costs one slot
at these parameters (L <= 18 keeps 84; 2^18 ciphertexts = 22 M gradients per update).

Default scale 2^12: representable range |g| <= (2^16 - 1) / 2^12 ~ 16.0, resolution 2.4e-4.
Pick a larger scale (e.g. 2^14: range +-4, resolution 6.1e-5) for small learning-rate-scaled
updates; the scale is part of the group's public parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepchain.crypto.serialize import CryptoFormatError, check_header, get_int


# -- what Proof_PK bounds: the ONE derivation of the packing's proof slack ---------------------
def proof_pk_range_bits(B: int, K: int, KAPPA: int) -> int:
    """Per-ciphertext Proof_PK: z1 < 2^(B + K + KAPPA), which proves c encrypts M = M* mod n
    for an integer |M*| < 2^(B + K + KAPPA) (honest M < 2^B; K-bit challenge, KAPPA bits of
    statistical hiding; ring-Pedersen binding under strong RSA, zk.proof_pk)."""
    return B + K + KAPPA


def batch_proof_range_bits(B: int, L: int, K: int, KAPPA: int) -> int:
    """Batched Proof_PK over k <= 2^L ciphertexts with r = K binary rows: z1 < 2^T with
    T = B + L + K + ceil(log2 K) + KAPPA (a row sum M^_i < 2^(B+L), the vector challenge
    sum_i w_i M^_i < 2^(B+L+K+log2 r)); it proves |M*_j| < 2^(T+1) for every j."""
    return B + L + K + (K - 1).bit_length() + KAPPA


def proven_bound_bits(B: int, L: int, K: int, KAPPA: int) -> int:
    """The bound either proof mode guarantees for every plaintext: |M*| < 2^(this). The batched
    bound (T + 1) is the larger: L + ceil(log2 K) + 1 bits over the per-ciphertext one."""
    return max(proof_pk_range_bits(B, K, KAPPA), batch_proof_range_bits(B, L, K, KAPPA) + 1)


#: the largest L2 bound c2 (so c2^2 < 2^128 and m b^2 + c2^2 stays far below the group order)
L2_BOUND_MAX = (1 << 64) - 1


def square_norm(q: np.ndarray) -> int:
    """sum q^2 over the integers (exact: no int64 overflow)."""
    q = np.asarray(q, dtype=np.int64)
    if q.size == 0:
        return 0
    m = int(np.max(np.abs(q)))
    if m < 1 << 31 and q.size * m * m < 1 << 62:
        return int(np.dot(q, q))
    return sum(v * v for v in q.tolist())


class SlotOverflowError(ValueError):
    """A decrypted slot lies outside the range an honest aggregate can produce."""


@dataclass(frozen=True)
class PackingScheme:
    """Public encoding parameters of a group (part of the round's public record)."""

    n_bits: int
    Q: int = 16
    N_max: int = 16
    scale: float = 2.0**12
    K: int = 128
    KAPPA: int = 40
    batch_log: int = 18  # L: a batched Proof_PK covers at most 2^L ciphertexts
    #: b: the group's public L-infinity bound, |q| <= b for every quantized coordinate (None:
    #: no per-slot bound, records made before it); every update then carries a slot-bound proof
    bound: int | None = None
    #: c2: the group's public L2 bound in quantized units, ||q||_2 <= c2 (None: no L2 bound,
    #: records made before it); the slot-bound proof then also proves sum q^2 <= c2^2
    l2_bound: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.Q <= 52 or not 1 <= self.N_max <= 1 << 20:
            raise ValueError("PackingScheme: Q must be in [1, 52] and N_max in [1, 2^20]")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError("PackingScheme: scale must be a positive finite number")
        if not 0 <= self.batch_log <= 40:
            raise ValueError("PackingScheme: batch_log must be in [0, 40]")
        if self.slots_per_ciphertext < 1:
            raise ValueError("PackingScheme: key too small for one slot plus proof slack")
        if self.bound is not None and not (
            type(self.bound) is int and 1 <= self.bound <= (1 << self.Q) - 1
        ):
            raise ValueError("PackingScheme: the bound must be an integer in [1, 2^Q - 1]")
        if self.l2_bound is not None and not (
            type(self.l2_bound) is int and 1 <= self.l2_bound <= L2_BOUND_MAX
        ):
            raise ValueError("PackingScheme: the L2 bound must be an integer in [1, 2^64 - 1]")
        if self.l2_bound is not None and self.bound is None:
            raise ValueError("PackingScheme: an L2 bound goes with an L-infinity bound")

    @property
    def log_n_max(self) -> int:
        return max(0, math.ceil(math.log2(self.N_max)))

    @property
    def slot_bits(self) -> int:
        """w = Q + 1 + ceil(log2 N_max) + 1."""
        return self.Q + 1 + self.log_n_max + 1

    @property
    def proof_slack_bits(self) -> int:
        """Bits a proven (possibly cheating) plaintext may exceed B by (proven_bound_bits - B):
        K + KAPPA for the per-ciphertext Proof_PK, plus L + ceil(log2 K) + 1 for the batched
        one; 194 at K = 128, KAPPA = 40, L = 18."""
        return proven_bound_bits(0, self.batch_log, self.K, self.KAPPA)

    @property
    def slots_per_ciphertext(self) -> int:
        free = self.n_bits - 2 - self.proof_slack_bits - self.log_n_max
        return free // self.slot_bits

    @property
    def plaintext_bits(self) -> int:
        """B: every honest packed plaintext is < 2^B (the bound Proof_PK proves, with slack)."""
        return self.slots_per_ciphertext * self.slot_bits

    @property
    def q_max(self) -> int:
        return (1 << self.Q) - 1

    @property
    def max_abs(self) -> float:
        """Largest representable |gradient| before clipping."""
        return self.q_max / self.scale

    def n_ciphertexts(self, length: int) -> int:
        return -(-length // self.slots_per_ciphertext)

    @property
    def q_bound(self) -> int:
        """The largest |q| an honest update has: the bound b, else 2^Q - 1."""
        return self.q_max if self.bound is None else self.bound

    def bound_for_clip(self, clip: float) -> int:
        """b for a group that clips every coordinate of dW to +-clip: round(clip * scale), at
        most 2^Q - 1 (quantize rounds to nearest, so |x| <= clip gives |q| <= b)."""
        if not (clip > 0 and math.isfinite(clip)):
            raise ValueError("the clip must be a positive finite number")
        return max(1, min(self.q_max, int(np.rint(clip * self.scale))))

    def l2_bound_for_clip(self, l2_clip: float) -> int:
        """c2 for a group that clips the L2 norm of dW to l2_clip: round(l2_clip * scale);
        ValueError unless it is an integer in [1, 2^64 - 1] (quantize keeps ||q||_2 <= c2)."""
        if not (l2_clip > 0 and math.isfinite(l2_clip)):
            raise ValueError("the L2 clip must be a positive finite number")
        c2 = int(np.rint(l2_clip * self.scale))
        if not 1 <= c2 <= L2_BOUND_MAX:
            raise ValueError(
                f"the L2 clip {l2_clip} is {c2} in quantized units (scale {self.scale:g}); "
                f"it must be between 1 and 2^64 - 1"
            )
        return c2

    # -- quantization --------------------------------------------------------------------
    def quantize(self, x: np.ndarray) -> np.ndarray:
        """q = round(x * scale) clipped to |q| <= b (the bound; 2^Q - 1 without one), int64.
        NaN maps to 0. With an L2 bound c2 the vector is first scaled to ||x scale||_2 <= c2
        (after the coordinate clip) and, if rounding left sum q^2 > c2^2, rounded toward zero
        instead and, only if float error still leaves it over, the largest |q| (first index)
        shrunk by 1 until it fits: always |q| <= b and sum q^2 <= c2^2, deterministically."""
        with np.errstate(over="ignore"):  # an overflow to +-inf clips to +-b below
            a = np.asarray(x, dtype=np.float64) * self.scale
        qb = self.q_bound
        a = np.clip(np.nan_to_num(a, nan=0.0, posinf=qb, neginf=-qb), -qb, qb)
        q = np.rint(a).astype(np.int64)
        if self.l2_bound is None:
            return q
        c2 = self.l2_bound
        B2 = c2 * c2
        norm = float(np.linalg.norm(a))
        if norm > c2:
            a = a * (c2 / norm)
            q = np.clip(np.rint(a), -qb, qb).astype(np.int64)
        if square_norm(q) > B2:
            q = np.clip(np.fix(a), -qb, qb).astype(np.int64)  # |fix(v)| <= |v|
            while square_norm(q) > B2:  # float error only: a few steps at most
                i = int(np.argmax(np.abs(q)))
                q[i] -= np.sign(q[i])
        return q

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """q / scale as float32 (q may be a sum over parties)."""
        return (np.asarray(q, dtype=np.float64) / self.scale).astype(np.float32)

    # -- packing -------------------------------------------------------------------------
    def pack(self, q: np.ndarray) -> list[int]:
        """Pack quantized values, slot k of plaintext j holding q[j*slots + k] + 2^Q."""
        q = np.asarray(q)
        if q.ndim != 1 or not np.issubdtype(q.dtype, np.integer):
            raise ValueError("pack expects a 1-D integer array")
        if q.size and int(np.max(np.abs(q))) > self.q_max:
            raise ValueError(f"pack: |q| must be <= 2^Q - 1 = {self.q_max}")
        off = (q.astype(np.int64) + (1 << self.Q)).tolist()
        s, w = self.slots_per_ciphertext, self.slot_bits
        out = []
        for j in range(0, len(off), s):
            acc = 0
            for v in reversed(off[j : j + s]):
                acc = (acc << w) | v
            out.append(acc)
        return out

    def unpack(self, plaintexts: list[int], length: int, n_parties: int) -> np.ndarray:
        """Exact element-wise sum (int64) of ``n_parties`` packed vectors of ``length`` values.

        Raises SlotOverflowError if any plaintext or slot is outside what n_parties honest
        contributions can produce (evidence of an out-of-range contribution).
        """
        if not 1 <= n_parties <= self.N_max:
            raise ValueError(f"n_parties must be in [1, N_max={self.N_max}]")
        s, w = self.slots_per_ciphertext, self.slot_bits
        if len(plaintexts) != self.n_ciphertexts(length):
            raise ValueError(f"expected {self.n_ciphertexts(length)} plaintexts for {length}")
        mask = (1 << w) - 1
        offset = n_parties << self.Q
        hi = n_parties * ((1 << (self.Q + 1)) - 1)
        lo = n_parties
        out = np.empty(length, dtype=np.int64)
        k = 0
        for j, m in enumerate(plaintexts):
            m = int(m)
            cnt = min(s, length - k)
            if m < 0 or m.bit_length() > cnt * w:
                raise SlotOverflowError(f"plaintext {j} exceeds its {cnt} slots")
            for _ in range(cnt):
                v = m & mask
                if not lo <= v <= hi:
                    raise SlotOverflowError(f"slot {k} value out of range for {n_parties}")
                out[k] = v - offset
                m >>= w
                k += 1
        return out

    # -- serialization -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d = {
            "type": "packing_scheme",
            "version": 1,
            "n_bits": self.n_bits,
            "Q": self.Q,
            "N_max": self.N_max,
            "scale": float(self.scale).hex(),
            "K": self.K,
            "KAPPA": self.KAPPA,
            "batch_log": self.batch_log,
        }
        if self.bound is not None:  # absent otherwise: older records parse unchanged
            d["bound"] = self.bound
        if self.l2_bound is not None:
            d["l2_bound"] = self.l2_bound
        return d

    @classmethod
    def from_json(cls, d: Any) -> PackingScheme:
        ctx = "PackingScheme"
        check_header(d, "packing_scheme")
        try:
            scale = float.fromhex(d["scale"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CryptoFormatError(f"{ctx}: bad scale") from exc
        try:
            return cls(
                n_bits=get_int(d, "n_bits", ctx, 64, 1 << 16),
                Q=get_int(d, "Q", ctx, 1, 52),
                N_max=get_int(d, "N_max", ctx, 1, 1 << 20),
                scale=scale,
                K=get_int(d, "K", ctx, 64, 512),
                KAPPA=get_int(d, "KAPPA", ctx, 20, 256),
                # absent in records written before the batched proof: the default
                batch_log=get_int(d, "batch_log", ctx, 0, 40) if "batch_log" in d else 18,
                bound=get_int(d, "bound", ctx, 1, (1 << 52) - 1) if "bound" in d else None,
                l2_bound=get_int(d, "l2_bound", ctx, 1, L2_BOUND_MAX) if "l2_bound" in d else None,
            )
        except CryptoFormatError:
            raise
        except ValueError as exc:
            raise CryptoFormatError(str(exc)) from exc
