"""Zero-knowledge Ligero over BabyBear: rows of small digits, committed column-wise, proven
to be digits (every entry in {0, 1, 2, 3} or in {0, 1}, row by row) and to satisfy a linear
form with a public target (Ames, Hazay, Ishai, Venkitasubramaniam, "Ligero: Lightweight
Sublinear Arguments Without a Trusted Setup", CCS 2017, sections 4-5, the interleaved
Reed-Solomon code tests; proximity by Ben-Sasson, Carmon, Ishai, Kopparty, Saraf, "Proximity
Gaps for Reed-Solomon Codes", FOCS 2020).

Code. ell message positions; k = a power of two >= ell + t; every row is a polynomial p of
degree < k whose values on the subgroup H = <w_k> are the row's entries at positions
0..ell-1 and uniform randomness at positions ell..k-1 (so t evaluations outside H are
uniform: zero knowledge of the opened columns). Its codeword is p on the coset D = GEN <w_n>,
n = BLOWUP k (D meets no subgroup, so no codeword position is a message position).
The prover commits the columns of every phase with a salted Merkle tree (``zk.merkle``);
phases let the statement draw challenges between commitments (rows that depend on them).

Tests, each REPS = 4 times (four independent combinations, i.e. one over F_(p^4)), with
challenges after every root: for each component c,
- proximity: u_c = sum_row g_c,row p_row + mu_c (deg < k, sent as coefficients);
- digits: q_c = sum_row r_c,row P_row(p_row) + mq_c, P = X(X-1)(X-2)(X-3) for a base-4 row
  and X(X-1) for a bit row (deg < 4k, sent); the verifier checks q_c = 0 on the message
  positions;
- linear: l_c = sum_row a^_c,row p_row + ml_c (deg < 2k, sent), a^ the row coefficients of
  the caller's linear form (a polynomial of degree < k, zero at the randomness positions);
  the verifier checks sum over H of l_c = target_c;
the masks mu (deg < k), mq (deg < 4k, zero on the message positions) and ml (deg < 2k, sum over
H zero) are committed rows of the first phase: they make u, q and l uniform given what they
must satisfy. Then t distinct columns (from the transcript) are opened in every phase and the
three polynomials are checked at them against the opened entries.

Soundness. If the committed rows are e-far from the interleaved code, a random combination is
e-far except with probability n / p^4 (BCIKS20, unique decoding, e < (n - k) / 2), and a
query catches it with probability e / n; if they are e-close, decode them: a row whose
entries are not all digits, or a violated linear form, makes the sent q (or l) differ from the
true combination except with probability 1 / p^4 (per test), and two distinct polynomials of
degree < 4k agree on at most 4k points of D, so a query passes with probability at most
(e + 4k) / n. With BLOWUP = 16 and e = 3n / 8 both are 5/8 per query: t = 148 queries give
2^-100 (``QUERIES``); the rest adds about 2^-100. Assumptions: SHA-256 is a random oracle
(Fiat-Shamir and the Merkle tree); nothing else (no discrete log, no trusted setup).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from deepchain.crypto.randomness import RNG, rng_or_system
from deepchain.crypto.zk import babybear as F
from deepchain.crypto.zk.merkle import SALT_BYTES, MerkleTree, root_from_opening
from deepchain.crypto.zk.transcript import Transcript

U64 = np.uint64
P = F.P
BLOWUP = 16
REPS = 4
#: queries for 2^-100: (5/8)^148 < 2^-100 (module docstring).
QUERIES = 148
MASK_ROWS = 3 * REPS  # mu, mq, ml for each component


def sizes(ell: int, t: int = QUERIES) -> tuple[int, int]:
    """(k, n): the polynomial degree bound and the code length for ell message positions."""
    k = 1
    while k < ell + t:
        k *= 2
    return k, BLOWUP * k


def digit_poly(U: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """P_row(U) entry-wise: X(X-1)(X-2)(X-3) on base-4 rows (kind 4), X(X-1) on bit rows."""
    x = U.astype(U64)
    p2 = x * (x + U64(P - 1)) % U64(P)  # X(X - 1)
    y = (x * x + U64(3) * (U64(P) - x)) % U64(P)  # X^2 - 3X; X(X-1)(X-2)(X-3) = y (y + 2)
    p4 = y * (y + U64(2)) % U64(P)
    return np.where((kinds == 4)[:, None], p4, p2)


class LinearForm(Protocol):
    """The caller's linear statement sum_(row, pos) a_c[row, pos] w[row, pos] = target_c."""

    target: np.ndarray  # (REPS,)

    def prover_value(self, U2: np.ndarray) -> np.ndarray:
        """sum_row a^_c,row(x) U2[row, x] on the coset GEN <w_2k> (U2: every row there);
        shape (REPS, 2k)."""
        ...

    def verifier_value(self, L: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """sum_row a^_c,row(x_q) cols[row, q] (L[q, s] the Lagrange basis of H at x_q);
        shape (REPS, t)."""
        ...


def challenges(tr: Transcript, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The proximity and digit-test combinations (REPS, rows) from the transcript."""
    seed = tr.digest()
    g = F.random_elements(seed + b"ligero/proximity", (REPS, rows))
    r = F.random_elements(seed + b"ligero/digits", (REPS, rows))
    return g, r


def queries(tr: Transcript, n: int, t: int) -> list[int]:
    """t distinct column indices in [0, n) from the transcript, sorted."""
    seed, words, out = tr.digest() + b"ligero/queries", 2 * t, set()
    while len(out) < t:
        raw = np.frombuffer(hashlib.shake_256(seed).digest(4 * words), dtype="<u4")
        out = set()
        for v in (raw % np.uint32(n)).tolist():
            out.add(v)
            if len(out) == t:
                break
        words *= 2
    return sorted(out)


@dataclass(frozen=True)
class Opening:
    """One phase's opened columns: entries (t, rows) uint32, salts, the Merkle multi-proof."""

    columns: np.ndarray
    salts: list[bytes]
    siblings: list[bytes]


@dataclass(frozen=True)
class LigeroProof:
    roots: list[bytes]
    u: np.ndarray  # (REPS, k)
    q: np.ndarray  # (REPS, 4k)
    lin: np.ndarray  # (REPS, 2k)
    openings: list[Opening]


def messages_bytes(u: np.ndarray, q: np.ndarray, lin: np.ndarray) -> bytes:
    return b"".join(a.astype("<u4").tobytes() for a in (u, q, lin))


class LigeroProver:
    """Commits phases of digit rows, then answers the tests (``respond``) and opens columns."""

    def __init__(self, ell: int, rng: RNG | None = None, t: int = QUERIES) -> None:
        self.ell, self.t = ell, t
        self.k, self.n = sizes(ell, t)
        self.rng = rng_or_system(rng)
        self.coeffs: list[np.ndarray] = []
        self.evals: list[np.ndarray] = []
        self.trees: list[MerkleTree] = []
        self.kinds: list[np.ndarray] = []

    def _random(self, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape))
        seed = self.rng.getrandbits(256).to_bytes(32, "big")
        return F.random_elements(seed, (count,)).reshape(shape)

    def _masks(self) -> np.ndarray:
        k, ell = self.k, self.ell
        out = np.zeros((MASK_ROWS, 4 * k), dtype=U64)
        for c in range(REPS):
            out[c, :k] = F.ntt(self._random((k,)), inverse=True)  # mu_c
            v = self._random((k,))
            v[:ell] = 0
            f0, r = F.ntt(v, inverse=True), self._random((3 * k,))
            mq = np.zeros(4 * k, dtype=U64)
            mq[:k] = f0
            mq[k:] = F.add(mq[k:], r)
            mq[: 3 * k] = F.sub(mq[: 3 * k], r)  # f0 + (X^k - 1) r: zero on H's first ell
            out[REPS + c] = mq
            v = self._random((k,))
            v[-1] = F.sub(np.zeros(1, dtype=U64), np.array([int(v[:-1].sum() % P)], U64))[0]
            f0, r = F.ntt(v, inverse=True), self._random((k,))
            ml = np.zeros(4 * k, dtype=U64)
            ml[:k] = f0
            ml[k : 2 * k] = F.add(ml[k : 2 * k], r)
            ml[:k] = F.sub(ml[:k], r)  # sum over H of f0 + (X^k - 1) r = sum of v = 0
            out[2 * REPS + c] = ml
        return out

    def commit(self, rows: np.ndarray, kinds: Sequence[int]) -> bytes:
        """Commit a phase (rows: (m, ell) digits); the first phase also carries the masks.
        Returns the phase's Merkle root."""
        rows = np.asarray(rows, dtype=np.int64)
        m = rows.shape[0]
        if rows.shape != (m, self.ell) or len(kinds) != m:
            raise ValueError("rows must be (m, ell) with one kind each")
        vals = np.empty((m, self.k), dtype=U64)
        vals[:, : self.ell] = F.arr(rows)  # a cheating prover's entries may be any integers
        vals[:, self.ell :] = self._random((m, self.k - self.ell))
        coeffs = np.zeros((m, 4 * self.k), dtype=U64)
        coeffs[:, : self.k] = F.ntt(vals, inverse=True)
        if not self.coeffs:
            coeffs = np.concatenate([coeffs, self._masks()])
        evals = F.coset_evals(coeffs, self.n)
        salts = self.rng.getrandbits(8 * SALT_BYTES * self.n).to_bytes(SALT_BYTES * self.n, "big")
        tree = MerkleTree(np.ascontiguousarray(evals.T.astype("<u4")), salts)
        self.coeffs.append(coeffs[:, : self.k])
        self.evals.append(evals)
        self.trees.append(tree)
        self.kinds.append(np.asarray(list(kinds), dtype=np.int64))
        return tree.root

    def respond(
        self, g: np.ndarray, r: np.ndarray, form: LinearForm
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, q, l): the three test polynomials' coefficients (module docstring)."""
        k = self.k
        wit = [e[: len(kd)] for e, kd in zip(self.evals, self.kinds, strict=True)]
        masks = self.evals[0][len(self.kinds[0]) :]
        W = np.concatenate(wit)
        kinds = np.concatenate(self.kinds)
        coeffs = np.concatenate(
            [c[: len(kd)] for c, kd in zip(self.coeffs, self.kinds, strict=True)]
        )
        mu = F.coset_interpolate(masks[:REPS, ::BLOWUP])  # (REPS, k) coefficients of mu_c
        u = F.add(F.matmul(g, coeffs), mu)
        W4 = W[:, :: BLOWUP // 4]
        q4 = F.add(F.matmul(r, digit_poly(W4, kinds)), masks[REPS : 2 * REPS, :: BLOWUP // 4])
        q = F.coset_interpolate(q4)
        W2 = W[:, :: BLOWUP // 2]
        lin = F.coset_interpolate(F.add(form.prover_value(W2), masks[2 * REPS :, :: BLOWUP // 2]))
        assert u.shape == (REPS, k) and q.shape == (REPS, 4 * k) and lin.shape == (REPS, 2 * k)
        return u, q, lin

    def open(self, idx: list[int]) -> list[Opening]:
        return [
            Opening(
                columns=np.ascontiguousarray(e[:, idx].T.astype(U64)),
                salts=[tree.salt(i) for i in idx],
                siblings=tree.siblings(idx),
            )
            for e, tree in zip(self.evals, self.trees, strict=True)
        ]


def check(
    ell: int,
    kinds: Sequence[np.ndarray],
    proof: LigeroProof,
    g: np.ndarray,
    r: np.ndarray,
    form: LinearForm,
    idx: list[int],
    t: int = QUERIES,
) -> str | None:
    """None if the Ligero part verifies, else "commitment" (a Merkle opening), "digits" (q
    does not vanish on the message positions), "linear" (the form's target) or "columns"
    (a polynomial disagrees with the opened entries)."""
    k, n = sizes(ell, t)
    phases = len(kinds)
    if len(proof.roots) != phases or len(proof.openings) != phases or len(idx) != t:
        return "commitment"
    shapes = (proof.u.shape, proof.q.shape, proof.lin.shape)
    if shapes != ((REPS, k), (REPS, 4 * k), (REPS, 2 * k)):
        return "commitment"
    cols = []
    for ph, (root, op) in enumerate(zip(proof.roots, proof.openings, strict=True)):
        m = len(kinds[ph]) + (MASK_ROWS if ph == 0 else 0)
        if op.columns.shape != (t, m) or np.any(op.columns >= P):
            return "commitment"
        raws = [c.astype("<u4").tobytes() for c in op.columns]
        if root_from_opening(n, idx, op.salts, raws, op.siblings) != root:
            return "commitment"
        cols.append(op.columns.T)  # (m, t)
    # q vanishes on the message positions, l sums to the target over H
    fold = proof.q.reshape(REPS, 4, k).sum(axis=1) % U64(P)
    if np.any(F.ntt(fold)[:, :ell] != 0):
        return "digits"
    total = F.mul(F.add(proof.lin[:, 0], proof.lin[:, k]), k)
    if np.any(total != form.target % U64(P)):
        return "linear"
    # the three polynomials at the opened columns
    w_n = F.root_of_unity(n)
    xs = np.array([F.GEN * pow(w_n, i, P) % P for i in idx], dtype=U64)
    kd = np.concatenate(list(kinds))
    nw0 = len(kinds[0])
    W = np.concatenate([cols[0][:nw0], *cols[1:]])
    masks = cols[0][nw0:]
    u_ok = F.add(F.matmul(g, W), masks[:REPS])
    q_ok = F.add(F.matmul(r, digit_poly(W, kd)), masks[REPS : 2 * REPS])
    L = F.lagrange_at(k, xs)
    l_ok = F.add(form.verifier_value(L, W), masks[2 * REPS :])
    for poly, want in ((proof.u, u_ok), (proof.q, q_ok), (proof.lin, l_ok)):
        if np.any(F.horner(poly, xs) != want):
            return "columns"
    return None


class ExplicitForm:
    """A linear form given by its whole coefficient array A (REPS, rows, ell): the generic case
    (the verifier's cost is rows x ell x t; structured statements supply their own form)."""

    def __init__(self, A: np.ndarray, target: np.ndarray, k: int) -> None:
        self.A, self.target, self.k = F.arr(A), F.arr(target), k

    def _polys(self) -> np.ndarray:
        R, m, ell = self.A.shape
        full = np.zeros((R, m, self.k), dtype=U64)
        full[:, :, :ell] = self.A
        return F.ntt(full, inverse=True)

    def prover_value(self, U2: np.ndarray) -> np.ndarray:
        ev = F.coset_evals(self._polys(), 2 * self.k)
        return (F.mul(ev, U2[None]).sum(axis=1) % U64(P)).astype(U64)

    def verifier_value(self, L: np.ndarray, cols: np.ndarray) -> np.ndarray:
        ell = self.A.shape[2]
        at = np.stack([F.matmul(self.A[c], L[:, :ell].T) for c in range(self.A.shape[0])])
        return (F.mul(at, cols[None]).sum(axis=1) % U64(P)).astype(U64)
