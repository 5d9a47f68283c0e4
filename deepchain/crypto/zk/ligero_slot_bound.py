"""Proof of bounded influence, hash-based: every slot of every packed plaintext is exactly the
digit of a quantized coordinate q with |q| <= b (the statement of ``zk.slot_bound``, slack 1x),
proven with zero-knowledge Ligero (``zk.ligero``) over BabyBear and linked to the Paillier
ciphertexts by masked subset sums.

Statement. As ``zk.slot_bound``: PK_model's (n, h_s), the packing (Q, slot width w, s slots
per ciphertext), the bound b, the length m and the ciphertexts c_1..c_ell; claim: c_j =
(1 + n)^(M_j) h_s^(alpha_j), M_j = off_j + D_j, D_j = sum_(i < cnt_j) d_ji 2^(w i), every
d_ji in [0, R], R = 2b.

Witness rows. Each digit in the basis of :func:`digit_basis`: K base-4 digits (weights 4^kk,
sums [0, 4^K - 1]) and the bits of ``slot_bound.bit_basis`` for the rest, so the sums are
exactly [0, R]. Row (i, kk) holds digit kk of slot i of every ciphertext (position j).

Link (per repetition r < REPS_LINK, all integers):
1. The prover commits (phase 0) the digit rows and the base-4 limbs of masks mu_r, uniform in
   [0, 2^MU) with MU = |sum_j rho_rj D_j| + KAPPA, and posts C_r = (1 + mu_r n) h_s^(eta_r).
2. rho_rj in [0, 2^RHO) from the transcript; Z_r = sum_j rho_rj D_j + mu_r is posted; with
   S_ri = sum_j rho_rj d_ji, limbs mu_ri, z_ri (w bits) the carries c_ri of
       S_ri + mu_ri + c_r(i-1) = z_ri + 2^w c_ri
   are committed (phase 1) in base-4 limbs.
3. Ligero proves every limb a digit and every such equation mod p; all terms are below p
   (RHO is chosen so), so they hold over the integers: Z_r = sum_j rho_rj D_j + mu_r exactly,
   for the committed digits and masks.
4. gamma_r (128 bits) from the transcript; A = sum_r gamma_r (eta_r + sum_j rho_rj alpha_j);
   the verifier checks prod_j c_j^(sum_r gamma_r rho_rj) prod_r C_r^(gamma_r) =
   (1 + X n) h_s^A mod n^2, X = sum_r gamma_r (Z_r + sum_j rho_rj off_j): the Paillier
   plaintexts satisfy sum_j rho_rj (M_j - off_j) + Dec(C_r) = Z_r mod n for every r except
   with probability 2^-128.
Soundness: with Ligero's witness (digits in [0, R], masks mu_r), delta_j = M_j - off_j - D_j
and delta_r = Dec(C_r) - mu_r are fixed before rho, and sum_j rho_rj delta_j + delta_r = 0
mod n for every r; if some delta_j != 0 mod n, one r passes with probability <= 2^-RHO (n
has no factor below 2^RHO), all of them with 2^-128. So every c_j encrypts off_j + D_j with
digits in [0, R]: |q| <= b, slack 1x. Error: Ligero's 2^-100 plus 2^-127 for the link, in
the random-oracle model (SHA-256); no discrete-log or factoring assumption for soundness.
Zero knowledge: Ligero's; Z_r hides sum_j rho_rj D_j statistically (2^-KAPPA), A hides the
alphas (eta_r has KAPPA extra bits), C_r is a DJN encryption (the short-exponent assumption of
every ciphertext of the protocol).

One piece (over 500 lines) on purpose: one proof system per file; its layout, prover,
verifier and byte format share the statement and the transcript order above.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import gmpy2
import numpy as np
from gmpy2 import mpz

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.randomness import RNG, rng_or_system
from deepchain.crypto.security_params import ALPHA_BITS, KAPPA
from deepchain.crypto.serialize import CryptoFormatError, Reader, Writer
from deepchain.crypto.zk import babybear as F
from deepchain.crypto.zk import ligero as LG
from deepchain.crypto.zk.merkle import HASH_BYTES, SALT_BYTES
from deepchain.crypto.zk.multiexp import multi_exp
from deepchain.crypto.zk.slot_bound import bit_basis
from deepchain.crypto.zk.transcript import ProofContext, Transcript

TAG = "deepchain/slot-bound-ligero/v1"
U64 = np.uint64
P = F.P
GAMMA_BITS = 128
LINK_BITS = 128  # the link's soundness: REPS_LINK * RHO >= 128
MAX_RHO = 8
MIN_K = 1024


def digit_basis(R: int) -> tuple[list[int], list[int]]:
    """(weights, kinds): K = floor(log4(R + 1)) base-4 digits (kind 4, weights 4^kk, sums
    [0, 4^K - 1]) and ``bit_basis`` bits (kind 2) for R - 4^K + 1 more: sums exactly [0, R]."""
    if R < 1:
        raise ValueError("the range [0, R] needs R >= 1")
    K = 0
    while 4 ** (K + 1) - 1 <= R:
        K += 1
    rest = R - (4**K - 1)
    bits = bit_basis(rest) if rest else []
    return [4**kk for kk in range(K)] + bits, [4] * K + [2] * len(bits)


def decompose(v: np.ndarray, R: int, strict: bool = True) -> np.ndarray:
    """The digits (len(weights), *v.shape) of integers v in [0, R] in ``digit_basis(R)``;
    with strict=False a value outside [0, R] keeps its excess in digit 0 (weight 1), which is
    then no digit: what a cheating prover must commit to (the tests' malicious prover)."""
    v = np.asarray(v, dtype=np.int64)
    excess = np.zeros_like(v)
    if not strict:
        excess = v - np.clip(v, 0, R)
        v = v - excess
    if v.size and (v.min() < 0 or v.max() > R):
        raise ValueError("a value lies outside [0, R]")
    wts, kinds = digit_basis(R)
    K = kinds.count(4)
    top = 4**K - 1
    hi = np.maximum(v - top, 0)
    lo = v - hi
    out = np.empty((len(wts), *v.shape), dtype=np.int64)
    for kk in range(K):
        out[kk] = (lo >> (2 * kk)) & 3
    if len(wts) > K:
        g = wts[K:]
        tb = (hi >= (1 << (len(g) - 1))).astype(np.int64) if len(g) > 1 else (hi >= 1)
        low = hi - tb * g[-1]
        for i in range(len(g) - 1):
            out[K + i] = (low >> i) & 1
        out[-1] = tb
    out[0] += excess
    return out


@dataclass(frozen=True)
class Layout:
    """Every size of a statement: shared by prover, verifier and the byte format."""

    n: int
    scheme: PackingScheme
    b: int
    length: int

    @cached_property
    def counts(self) -> list[int]:
        s = self.scheme.slots_per_ciphertext
        return [min(s, self.length - lo) for lo in range(0, self.length, s)]

    @property
    def ell(self) -> int:
        return len(self.counts)

    @cached_property
    def positions(self) -> int:
        """Ligero's message positions per row: k - t for k = max(2^|ell + t|, MIN_K); the digit
        rows use the first ell (one per ciphertext), the limb and carry rows all of them."""
        k = MIN_K
        while k < self.ell + LG.QUERIES:
            k *= 2
        return k - LG.QUERIES

    @property
    def s(self) -> int:
        return self.scheme.slots_per_ciphertext

    @property
    def w(self) -> int:
        return self.scheme.slot_bits

    @property
    def R(self) -> int:
        return 2 * self.b

    @cached_property
    def rho_bits(self) -> int:
        """The largest RHO <= MAX_RHO keeping every carry equation's terms below p."""
        for rb in range(MAX_RHO, 0, -1):
            e_max = self.ell * ((1 << rb) - 1) * self.R + (1 << (self.w + 1))
            cw = max(1, e_max.bit_length() - self.w)
            if e_max < P and (1 << (self.w + cw)) < P:
                return rb
        raise ValueError("too many ciphertexts for the hash-based slot-bound proof")

    @property
    def reps(self) -> int:
        return -(-LINK_BITS // self.rho_bits)

    @cached_property
    def carry_bits(self) -> int:
        e_max = self.ell * ((1 << self.rho_bits) - 1) * self.R + (1 << (self.w + 1))
        return max(1, e_max.bit_length() - self.w)

    @property
    def mu_bits(self) -> int:
        v_bits = self.w * self.s + self.rho_bits + self.ell.bit_length()
        return v_bits + KAPPA

    @property
    def limbs(self) -> int:
        return -(-self.mu_bits // self.w)

    @property
    def eta_bits(self) -> int:
        return ALPHA_BITS + self.rho_bits + self.ell.bit_length() + KAPPA

    @cached_property
    def digit(self) -> tuple[list[int], list[int]]:
        return digit_basis(self.R)

    @cached_property
    def limb_digit(self) -> tuple[list[int], list[int]]:
        return digit_basis((1 << self.w) - 1)

    @cached_property
    def carry_digit(self) -> tuple[list[int], list[int]]:
        return digit_basis((1 << self.carry_bits) - 1)

    def flat_rows(self, entries: int) -> int:
        return -(-entries // self.positions)

    @property
    def mu_entries(self) -> int:
        return self.reps * self.limbs * len(self.limb_digit[0])

    @property
    def carry_entries(self) -> int:
        return self.reps * (self.limbs - 1) * len(self.carry_digit[0])

    @property
    def digit_rows(self) -> int:
        return self.s * len(self.digit[0])

    @cached_property
    def kinds0(self) -> np.ndarray:
        nd = len(self.digit[1])
        k = [self.digit[1][kk] for _i in range(self.s) for kk in range(nd)]
        return np.array(k + [4] * self.flat_rows(self.mu_entries), dtype=np.int64)

    @cached_property
    def kinds1(self) -> np.ndarray:
        return np.array([4] * self.flat_rows(self.carry_entries), dtype=np.int64)

    @cached_property
    def offsets(self) -> list[int]:
        w, base = self.w, (1 << self.scheme.Q) - self.b
        return [base * ((1 << (w * c)) - 1) // ((1 << w) - 1) for c in self.counts]

    @property
    def ct_bytes(self) -> int:
        return (2 * self.n.bit_length() + 7) // 8


def _flat(entries: np.ndarray, ell: int) -> np.ndarray:
    """Entries laid out row-major in rows of ell positions (zero-padded)."""
    rows = -(-entries.size // ell)
    out = np.zeros(rows * ell, dtype=np.int64)
    out[: entries.size] = entries.reshape(-1)
    return out.reshape(rows, ell)


def _rho(tr: Transcript, lay: Layout) -> np.ndarray:
    raw = np.frombuffer(
        hashlib.shake_256(tr.digest() + b"rho").digest(lay.reps * lay.ell), dtype=np.uint8
    )
    return (raw & np.uint8((1 << lay.rho_bits) - 1)).astype(np.int64).reshape(lay.reps, lay.ell)


def _limbs(Z: list[int], lay: Layout) -> np.ndarray:
    """z_ri: the w-bit limbs of every Z_r, the last one holding the rest (reps, L)."""
    w, L = lay.w, lay.limbs
    mask = (1 << w) - 1
    return np.array(
        [[(z >> (w * i)) & mask for i in range(L - 1)] + [z >> (w * (L - 1))] for z in Z],
        dtype=np.int64,
    )


class SlotForm:
    """The link's linear form: sum_ri gamma_c,ri (S_ri + mu_ri + c_r(i-1) - 2^w c_ri) =
    sum_ri gamma_c,ri z_ri, with S_ri = sum_j rho_rj d_ji (zk.ligero.LinearForm)."""

    def __init__(self, lay: Layout, rho: np.ndarray, gam: np.ndarray, z: np.ndarray, k: int):
        self.lay, self.k = lay, k
        s, ell = lay.s, lay.ell
        self.target = (F.mul(gam, F.arr(z)[None]).sum(axis=(1, 2)) % U64(P)).astype(U64)
        rho_u = F.arr(rho)
        # G[c, i, j] = sum_r gamma_c,ri rho_rj for the used slots
        self.G = np.stack([F.matmul(gam[c, :, :s].T.copy(), rho_u) for c in range(LG.REPS)])
        last = lay.counts[-1]
        self.G[:, last:, ell - 1] = 0
        self.gam_s, self.rho_u = gam[:, :, :s], rho_u
        wm, _ = lay.limb_digit
        wc, _ = lay.carry_digit
        mu = gam[:, :, :, None] * F.arr(np.array(wm))[None, None, None, :] % U64(P)
        two_w = U64((1 << lay.w) % P)
        cc = F.sub(gam[:, :, 1:], gam[:, :, :-1] * two_w % U64(P))
        car = cc[:, :, :, None] * F.arr(np.array(wc))[None, None, None, :] % U64(P)
        A0 = [_flat(mu[c].astype(np.int64), lay.positions) for c in range(LG.REPS)]
        A1 = [_flat(car[c].astype(np.int64), lay.positions) for c in range(LG.REPS)]
        both = [np.concatenate([a0, a1]) for a0, a1 in zip(A0, A1, strict=True)]
        self.flat = F.arr(np.stack(both))

    def _slot_values(self, U: np.ndarray) -> np.ndarray:
        """sum_kk weight_kk U[(i, kk)]: the rows' slot values (s, points)."""
        wd, _ = self.lay.digit
        nd, s = len(wd), self.lay.s
        D = U[: s * nd].reshape(s, nd, -1)
        return (F.mul(D, F.arr(np.array(wd))[None, :, None]).sum(axis=1) % U64(P)).astype(U64)

    def _split(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nr = self.lay.digit_rows
        mu_rows = self.lay.flat_rows(self.lay.mu_entries)
        return U[:nr], np.concatenate([U[nr : nr + mu_rows], U[nr + mu_rows :]])

    def prover_value(self, U2: np.ndarray) -> np.ndarray:
        dig, flat = self._split(U2)
        k, ell = self.k, self.lay.ell
        full = np.zeros((*self.G.shape[:2], k), dtype=U64)
        full[:, :, :ell] = self.G
        Gh = F.coset_evals(F.ntt(full, inverse=True), 2 * k)  # (REPS, s, 2k)
        sv = self._slot_values(dig)
        out = F.mul(Gh, sv[None]).sum(axis=1) % U64(P)
        fl = np.zeros((LG.REPS, self.flat.shape[1], k), dtype=U64)
        fl[:, :, : self.lay.positions] = self.flat
        Fh = F.coset_evals(F.ntt(fl, inverse=True), 2 * k)
        out = (out + F.mul(Fh, flat[None]).sum(axis=1)) % U64(P)
        return out.astype(U64)

    def verifier_value(self, L: np.ndarray, cols: np.ndarray) -> np.ndarray:
        dig, flat = self._split(cols)
        ell, last = self.lay.ell, self.lay.counts[-1]
        Lm = L[:, :ell]
        PL = F.matmul(self.rho_u, Lm.T.copy())  # (reps, t)
        Gat = np.stack([F.matmul(self.gam_s[c].T.copy(), PL) for c in range(LG.REPS)])
        if last < self.lay.s:  # the last ciphertext's unused slots have no digits
            glast = np.stack(
                [F.matmul(self.gam_s[c].T.copy(), self.rho_u[:, ell - 1 :]) for c in range(LG.REPS)]
            )  # (REPS, s, 1)
            corr = F.mul(glast[:, last:, :], Lm[None, None, :, ell - 1])
            Gat[:, last:, :] = F.sub(Gat[:, last:, :], corr)
        sv = self._slot_values(dig)
        out = F.mul(Gat, sv[None]).sum(axis=1) % U64(P)
        Lp = L[:, : self.lay.positions].T.copy()
        at = np.stack([F.matmul(self.flat[c], Lp) for c in range(LG.REPS)])
        out = (out + F.mul(at, flat[None]).sum(axis=1)) % U64(P)
        return out.astype(U64)


@dataclass(frozen=True)
class LigeroSlotBoundProof:
    """C_r, Z_r per link repetition, A, and the Ligero proof (two phases)."""

    C: tuple[int, ...]
    Z: tuple[int, ...]
    A: int
    ligero: LG.LigeroProof

    MAGIC = b"DCLB"

    def to_bytes(self) -> bytes:
        w = Writer(self.MAGIC)
        w.u32(len(self.C))
        for x in (*self.C, *self.Z, self.A):
            w.var(x)
        lp = self.ligero
        for a in (lp.u, lp.q, lp.lin):
            w.u32(a.shape[1])
            w.parts.append(a.astype("<u4").tobytes())
        w.u8(len(lp.roots))
        for root, op in zip(lp.roots, lp.openings, strict=True):
            w.parts.append(root)
            t, m = op.columns.shape
            w.u32(t)
            w.u32(m)
            w.parts.append(op.columns.astype("<u4").tobytes())
            w.parts.append(b"".join(op.salts))
            w.u32(len(op.siblings))
            w.parts.append(b"".join(op.siblings))
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LigeroSlotBoundProof:
        r = Reader(data, cls.MAGIC)
        reps = r.u32()
        if reps > 1024:
            raise CryptoFormatError("LigeroSlotBoundProof: bad repetition count")
        C = tuple(r.var() for _ in range(reps))
        Z = tuple(r.var() for _ in range(reps))
        A = r.var()

        def arr(cnt: int) -> np.ndarray:
            if 4 * cnt > len(data):
                raise CryptoFormatError("truncated data")
            return np.frombuffer(r.take(4 * cnt), dtype="<u4").astype(U64)

        polys = []
        for _ in range(3):
            d = r.u32()
            polys.append(arr(LG.REPS * d).reshape(LG.REPS, d))
        phases = r.u8()
        if phases > 4:
            raise CryptoFormatError("LigeroSlotBoundProof: bad phase count")
        roots, ops = [], []
        for _ in range(phases):
            roots.append(r.take(HASH_BYTES))
            t, m = r.u32(), r.u32()
            if t * m > len(data) or t > 1 << 16:
                raise CryptoFormatError("truncated data")
            cols = arr(t * m).reshape(t, m)
            salts = [r.take(SALT_BYTES) for _ in range(t)]
            ns = r.u32()
            if ns * HASH_BYTES > len(data):
                raise CryptoFormatError("truncated data")
            sib = [r.take(HASH_BYTES) for _ in range(ns)]
            ops.append(LG.Opening(columns=cols, salts=salts, siblings=sib))
        r.end()
        return cls(C=C, Z=Z, A=A, ligero=LG.LigeroProof(roots, *polys, ops))


def _statement(pk: ThresholdPublicKey, lay: Layout, cs: list[int], ctx: ProofContext) -> Transcript:
    sc = lay.scheme
    tr = Transcript(TAG, ctx).int("n", pk.n).int("h_s", pk.h_s)
    tr.int("Q", sc.Q).int("w", sc.slot_bits).int("s", sc.slots_per_ciphertext)
    return tr.int("b", lay.b).int("m", lay.length).ints("c", cs)


def _lin_gamma(tr: Transcript, lay: Layout) -> np.ndarray:
    return F.random_elements(tr.digest() + b"linear", (LG.REPS, lay.reps, lay.limbs))


def _check_statement(pk: ThresholdPublicKey, scheme: PackingScheme, b: int, length: int) -> Layout:
    if scheme.n_bits != pk.n.bit_length():
        raise ValueError("packing scheme was made for a different key size")
    if not (isinstance(b, int) and 1 <= b <= scheme.q_max):
        raise ValueError(f"the bound b must be an integer in [1, 2^Q - 1 = {scheme.q_max}]")
    if not isinstance(length, int) or length < 1:
        raise ValueError("an update has at least one coordinate")
    lay = Layout(pk.n, scheme, b, length)
    lay.rho_bits  # noqa: B018 - raises for too many ciphertexts
    return lay


def prove_ligero_slot_bound(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    q: np.ndarray,
    cs: list[int],
    alphas: list[int],
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
) -> LigeroSlotBoundProof:
    """Prove that cs (the packing of q, encrypted with the DJN exponents alphas) has every slot
    equal to 2^Q + q_i with |q_i| <= b; refuses a q outside the bound (clip first)."""
    q = np.asarray(q, dtype=np.int64)
    if q.ndim != 1 or not q.size or int(np.max(np.abs(q))) > b:
        raise ValueError("prove_ligero_slot_bound: the update is not within the bound (clip it)")
    s = scheme.slots_per_ciphertext
    d = np.zeros(-(-q.size // s) * s, dtype=np.int64)
    d[: q.size] = q + b
    return prove_slot_digits(pk, scheme, b, int(q.size), cs, alphas, d.reshape(-1, s), rng, ctx=ctx)


def prove_slot_digits(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    length: int,
    cs: list[int],
    alphas: list[int],
    d: np.ndarray,
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
    strict: bool = True,
) -> LigeroSlotBoundProof:
    """The prover on the slot values d[j, i] (M_j = off_j + sum_i d_ji 2^(w i)); strict=False
    commits values outside [0, 2b] too (``decompose``): the attack tests' malicious prover,
    which the verifier must refuse."""
    lay = _check_statement(pk, scheme, b, length)
    if len(cs) != lay.ell or len(alphas) != lay.ell or d.shape != (lay.ell, lay.s):
        raise ValueError("one ciphertext, one exponent and one row of slots per plaintext")
    rng = rng_or_system(rng)
    ell, s, w, L = lay.ell, lay.s, lay.w, lay.limbs
    d = np.array(d, dtype=np.int64)
    d.reshape(-1)[length:] = 0
    dig = decompose(d, lay.R, strict)  # (nd, ell, s)
    rows_d = np.zeros((lay.digit_rows, lay.positions), dtype=np.int64)
    rows_d[:, :ell] = dig.transpose(2, 0, 1).reshape(-1, ell)  # row (i, kk), position j
    n, n2 = pk.n, mpz(pk.n) * pk.n
    mu = [rng.getrandbits(lay.mu_bits) for _ in range(lay.reps)]
    eta = [rng.getrandbits(lay.eta_bits) for _ in range(lay.reps)]
    C = [int((1 + m * n) * gmpy2.powmod(pk.h_s, e, n2) % n2) for m, e in zip(mu, eta, strict=True)]
    mask_l = (1 << w) - 1
    mu_limbs = np.array([[(m >> (w * i)) & mask_l for i in range(L)] for m in mu], dtype=np.int64)
    mu_dig = decompose(mu_limbs, mask_l)  # (nm, reps, L)
    rows_mu = _flat(mu_dig.transpose(1, 2, 0), lay.positions)

    tr = _statement(pk, lay, list(cs), ctx)
    prover = LG.LigeroProver(lay.positions, rng)
    root0 = prover.commit(np.concatenate([rows_d, rows_mu]), lay.kinds0.tolist())
    tr.bytes("root0", root0).ints("C", C)
    rho = _rho(tr, lay)
    Dj = [sum(int(x) << (w * i) for i, x in enumerate(row)) for row in d.tolist()]
    Z = [sum(int(r) * D for r, D in zip(rho[rr], Dj, strict=True)) + m for rr, m in enumerate(mu)]
    tr.ints("Z", Z)
    S = rho @ d  # (reps, s): below 2^31 by the choice of RHO
    zl = _limbs(Z, lay)
    carries = np.zeros((lay.reps, L - 1), dtype=np.int64)
    c_in = np.zeros(lay.reps, dtype=np.int64)
    for i in range(L - 1):
        e = (S[:, i] if i < s else 0) + mu_limbs[:, i] + c_in
        assert np.all((e & mask_l) == zl[:, i])
        c_in = e >> w
        carries[:, i] = c_in
    top = (S[:, L - 1] if s > L - 1 else 0) + mu_limbs[:, L - 1] + c_in
    assert np.all(top == zl[:, L - 1])
    car_dig = decompose(carries, (1 << lay.carry_bits) - 1, strict)
    rows_c = _flat(car_dig.transpose(1, 2, 0), lay.positions)
    root1 = prover.commit(rows_c, lay.kinds1.tolist())
    tr.bytes("root1", root1)
    gam_p = tr.challenges(lay.reps, GAMMA_BITS, "gamma")
    A = sum(
        g * (eta[rr] + sum(int(r) * a for r, a in zip(rho[rr], alphas, strict=True)))
        for rr, g in enumerate(gam_p)
    )
    tr.int("A", A)
    g, r = LG.challenges(tr, len(lay.kinds0) + len(lay.kinds1))
    form = SlotForm(lay, rho, _lin_gamma(tr, lay), zl, prover.k)
    u, qq, lin = prover.respond(g, r, form)
    tr.bytes("msgs", LG.messages_bytes(u, qq, lin))
    idx = LG.queries(tr, prover.n, prover.t)
    proof = LG.LigeroProof([root0, root1], u, qq, lin, prover.open(idx))
    return LigeroSlotBoundProof(C=tuple(C), Z=tuple(Z), A=A, ligero=proof)


def _is_unit(x: int, n: int, n2: int) -> bool:
    return isinstance(x, int) and 1 <= x < n2 and gmpy2.gcd(x, n) == 1


def ligero_slot_bound_failure(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    length: int,
    cs: list[int],
    proof: LigeroSlotBoundProof,
    *,
    ctx: ProofContext,
) -> str | None:
    """None if the proof verifies, else the first failed check: "statement", "range" (Z or A
    out of range), "commitment", "digits", "linear", "columns" (``zk.ligero.check``) or "link"
    (the ciphertexts do not encrypt the committed digits)."""
    try:
        lay = _check_statement(pk, scheme, b, length)
    except ValueError:
        return "statement"
    if not isinstance(proof, LigeroSlotBoundProof) or not isinstance(ctx, ProofContext):
        return "statement"
    n, n2 = pk.n, pk.n * pk.n
    if len(cs) != lay.ell or not all(_is_unit(c, n, n2) for c in cs):
        return "statement"
    if len(proof.C) != lay.reps or len(proof.Z) != lay.reps:
        return "statement"
    if not all(_is_unit(c, n, n2) for c in proof.C):
        return "range"
    if not all(0 <= z < 1 << (lay.mu_bits + 1) for z in proof.Z):
        return "range"
    if not 0 <= proof.A < 1 << (lay.eta_bits + GAMMA_BITS + lay.reps.bit_length() + 1):
        return "range"
    lp = proof.ligero
    if len(lp.roots) != 2:
        return "commitment"
    tr = _statement(pk, lay, list(cs), ctx)
    tr.bytes("root0", lp.roots[0]).ints("C", proof.C)
    rho = _rho(tr, lay)
    tr.ints("Z", proof.Z)
    tr.bytes("root1", lp.roots[1])
    gam_p = tr.challenges(lay.reps, GAMMA_BITS, "gamma")
    tr.int("A", proof.A)
    g, r = LG.challenges(tr, len(lay.kinds0) + len(lay.kinds1))
    k, nn = LG.sizes(lay.positions)
    if lp.u.shape != (LG.REPS, k) or lp.q.shape != (LG.REPS, 4 * k):
        return "commitment"
    if lp.lin.shape != (LG.REPS, 2 * k):
        return "commitment"
    form = SlotForm(lay, rho, _lin_gamma(tr, lay), _limbs(list(proof.Z), lay), k)
    tr.bytes("msgs", LG.messages_bytes(lp.u, lp.q, lp.lin))
    idx = LG.queries(tr, nn, LG.QUERIES)
    why = LG.check(lay.positions, [lay.kinds0, lay.kinds1], lp, g, r, form, idx)
    if why is not None:
        return why
    # the Paillier link
    rho_l = rho.tolist()
    rho_star = [sum(gp * rho_l[rr][j] for rr, gp in enumerate(gam_p)) for j in range(lay.ell)]
    lhs = multi_exp(list(cs) + list(proof.C), rho_star + list(gam_p), n2)
    offs = lay.offsets
    X = (
        sum(
            gp * (proof.Z[rr] + sum(rj * o for rj, o in zip(rho_l[rr], offs, strict=True)))
            for rr, gp in enumerate(gam_p)
        )
        % n
    )
    m_n2 = mpz(n2)
    rhs = (1 + X * n) * gmpy2.powmod(pk.h_s, proof.A, m_n2) % m_n2
    return None if lhs % m_n2 == rhs else "link"


def verify_ligero_slot_bound(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    length: int,
    cs: list[int],
    proof: LigeroSlotBoundProof,
    *,
    ctx: ProofContext,
) -> bool:
    """True iff ``proof`` shows every slot of cs encrypts 2^Q + q with |q| <= b (module
    docstring: the link, its soundness, slack 1x) for the context ``ctx``."""
    return ligero_slot_bound_failure(pk, scheme, b, length, cs, proof, ctx=ctx) is None
