"""One party of the dealerless ceremony: a state machine that turns an inbox into an outbox.

A party is driven round by round: ``outgoing()`` gives the bodies it sends this round (one per
recipient, itself included), ``deliver(inbox)`` hands it the bodies every party sent it and
moves it to the next round. Its state holds only its own additive and Shamir shares, the
public values and the opened (public) numbers: never p, q, phi(N), lambda or d (see
deepchain/crypto/dkg/__init__.py for the protocol and tests/unit/test_dkg.py for the check).

One piece (over 500 lines) on purpose: it is one state machine, whose rounds read and write
the same per-party state (its shares, the opened values, the checks still due); cut by round,
each part would reach into the others' state.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Generator, Mapping
from typing import Any

import gmpy2
import numpy as np

from deepchain.crypto.dkg.bases import (
    biprimality_base,
    randomness_base,
    test_ciphertext,
    test_plaintext,
    verification_base,
)
from deepchain.crypto.dkg.params import BIPRIMALITY_REPS, MAX_BATCHES, DKGParams, coprime_to
from deepchain.crypto.dkg.shamir import (
    crt_slots,
    interpolate_at,
    lagrange_slots,
    open_field,
    share_field,
    share_integer,
    share_slots,
    sum_field,
    uniform_mod,
    unpack_slots,
)
from deepchain.crypto.dkg.wire import Body, decode, encode
from deepchain.crypto.modexp import powmod_same_exp
from deepchain.crypto.paillier import (
    KeyShare,
    ThresholdPublicKey,
    combine,
    key_ceremony_context,
    partial_decrypt,
    share_bits_bound,
)
from deepchain.crypto.randomness import RNG, randbelow, rng_or_system
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.zk.proof_cd import ProofCD, prove_cd, verify_cd
from deepchain.crypto.zk.ring_pedersen import (
    PRM_M,
    RingPedersenParams,
    prm_challenge,
    verify_prm,
)
from deepchain.crypto.zk.transcript import ProofContext

Outbox = dict[int, dict[str, Any]]
Inbox = dict[int, dict[str, Any]]


class CeremonyError(Exception):
    """The ceremony cannot finish; ``party`` names the party to blame (None: not attributable)."""

    def __init__(self, message: str, party: int | None = None, phase: str = "") -> None:
        super().__init__(message)
        self.party = party
        self.phase = phase


class InconsistentMessage(CeremonyError):
    """A party's message failed a check (malformed, off its committed polynomial, bad proof)."""


class PartyStalled(CeremonyError):
    """A party sent nothing before the phase deadline."""


class CeremonyFailed(CeremonyError):
    """No usable modulus within the batch limit (not attributable to a party)."""


def _handing_over(box: Outbox) -> Outbox:
    """A fresh dict with box's entries, box emptied: the yielding frame keeps no reference."""
    out = dict(box)
    box.clear()
    return out


class DKGParty:
    """Party i (1-based) of an N-party ceremony with parameters ``params``."""

    def __init__(self, i: int, params: DKGParams, rng: RNG | None = None) -> None:
        if not 1 <= i <= params.N:
            raise ValueError("party index out of range")
        self.i = i
        self.params = params
        self.phase = "sieve"
        self.round = 0
        self.result: tuple[ThresholdPublicKey, KeyShare] | None = None
        self.transcript: dict[str, Any] = {}  # public outcome: N, z1, z2, commitments, tests
        self._rng: RNG = rng_or_system(rng)
        self._gen = self._protocol()
        self._out: dict[int, bytes] | None = None  # computed when first asked for

    # -- driving ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.result is not None

    def outgoing(self) -> dict[int, bytes]:
        """Bodies for this round, keyed by recipient (1..N, this party included)."""
        if self._out is None:
            self._out = self._frame(next(self._gen))
        return dict(self._out)

    def deliver(self, inbox: Mapping[int, bytes], consume: bool = False) -> None:
        """Hand over this round's bodies from every sender; raises InconsistentMessage.

        ``consume``: ``inbox`` is a dict handed over to this party, each body is popped from it
        once decoded, so a body is freed as soon as the protocol is done with its fields."""
        fields: Inbox = {}
        for j in range(1, self.params.N + 1):
            if j not in inbox:
                raise PartyStalled(f"no message from party {j}", party=j, phase=self.phase)
            try:
                raw = inbox.pop(j) if consume and isinstance(inbox, dict) else inbox[j]
                body: Body = decode(raw)
                del raw
            except (CryptoFormatError, UnicodeDecodeError) as exc:
                raise InconsistentMessage(
                    f"party {j} sent a malformed message: {exc}", party=j, phase=self.phase
                ) from exc
            if body.phase != self.phase or body.round != self.round:
                raise InconsistentMessage(
                    f"party {j} sent a message for another round", party=j, phase=self.phase
                )
            fields[j] = body.fields
        self._out = None  # this round's bodies were handed out: do not hold them any longer
        self.round += 1
        try:
            out = self._gen.send(fields)
        except CeremonyError as exc:
            exc.phase = exc.phase or self.phase
            raise
        except StopIteration as stop:
            self.result = stop.value
            self._out = {}
            return
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InconsistentMessage(
                f"a message did not have the expected shape: {type(exc).__name__}",
                phase=self.phase,
            ) from exc
        self._out = self._frame(out)

    def _frame(self, step: tuple[str, Outbox]) -> dict[int, bytes]:
        phase, out = step
        self.phase = phase
        # pop each recipient's fields as its body is encoded: its arrays are freed right away
        return {j: encode(phase, self.round, out.pop(j, {})) for j in range(1, self.params.N + 1)}

    def _field(self, inbox: Inbox, j: int, name: str) -> Any:
        try:
            return inbox[j][name]
        except KeyError:
            raise InconsistentMessage(
                f"party {j} omitted {name!r}", party=j, phase=self.phase
            ) from None

    # -- the protocol ----------------------------------------------------------------------
    def _protocol(
        self,
    ) -> Generator[tuple[str, Outbox], Inbox, tuple[ThresholdPublicKey, KeyShare]]:
        for _ in range(MAX_BATCHES):
            shares = yield from self._sieve()
            found = yield from self._modulus(shares)
            if found is not None:
                return found
        raise CeremonyFailed("no biprime modulus found within the batch limit", phase="modulus")

    def _sieve(self) -> Generator[tuple[str, Outbox], Inbox, tuple[list[int], list[int]]]:
        """Boneh-Franklin distributed sieving, slot-wise (CRT form): returns (p_i, q_i) lists.

        Parties 1..T+1 each deal a random unit a_j mod l for every candidate and sieve prime l;
        the product a = prod a_j (never 0 mod l) is computed by BGW multiplications in a
        binary tree (degree-T Shamir over Z_l, degree reduction by the first 2T+1 parties),
        then converted to additive residues by Lagrange at 0 over all N points. Each party
        recombines its residues by CRT into c_i < 4M' (c_1 = 3, c_i = 0 mod 4) and adds
        4M' rho_i; so p = sum p_i is = 3 mod 4 and has no prime factor in the sieve.
        """
        prm, i, rng = self.params, self.i, self._rng
        N, T = prm.N, prm.T
        ells = np.array(prm.sieve, dtype=np.int64)
        C = 2 * prm.pairs_per_batch
        contributors = range(1, T + 2)
        deal = i in contributors
        # outboxes are built by helpers inside the yield, so this frame keeps no reference
        # to them and _frame frees each recipient's arrays once its body is encoded
        inbox = yield "sieve", (self._deal_units(C, ells) if deal else {})
        cur = [self._residues(inbox, j, "a", C) for j in contributors]
        inbox.clear()  # drop the bodies (the caller may still hold this dict)
        # Lagrange at 0 over parties 1..2T+1 (each < l) times a share (< l): the 2T+1
        # products below l^2 are summed in int32 when that cannot overflow, and reduced once.
        wide = (2 * T + 1) * (prm.sieve[-1] - 1) ** 2 >= 1 << 31
        acc_t = np.int64 if wide else np.int32
        lam2 = lagrange_slots(range(1, 2 * T + 2), prm.sieve).astype(acc_t)
        mod_acc = ells.astype(acc_t)
        while len(cur) > 1:
            npairs = len(cur) // 2
            carry = [cur[-1]] if len(cur) % 2 else []
            mine = self._reshare_products(cur[: 2 * npairs], ells) if i <= 2 * T + 1 else {}
            inbox = yield "sieve", _handing_over(mine)
            del cur
            new = []
            for m in range(npairs):
                acc = np.zeros((C, len(ells)), dtype=acc_t)
                for k in range(1, 2 * T + 2):
                    acc += lam2[k - 1] * self._residues(inbox, k, "m", C, m)
                acc %= mod_acc
                new.append(acc.astype(np.uint16))
                del acc
            inbox.clear()
            cur = new + carry
        lam_all = lagrange_slots(range(1, N + 1), prm.sieve)[i - 1]
        residues = cur[0] * lam_all % ells
        low = crt_slots(residues, prm.sieve, 3 if i == 1 else 0)
        R, M4 = prm.rho_range, prm.M4
        ints = [c + M4 * randbelow(rng, R) for c in low]
        K = prm.pairs_per_batch
        return ints[:K], ints[K:]

    def _deal_units(self, C: int, ells: np.ndarray) -> Outbox:
        """Shares of C x L random units (one per candidate and sieve prime) for every party."""
        prm = self.params
        a = uniform_mod(self._rng, (C, len(ells)), ells, low=1)
        dealt = share_slots(a, prm.T, prm.N, ells, self._rng, packed=True)
        del a
        return {j: {"a": dealt[j - 1]} for j in range(1, prm.N + 1)}

    def _residues(self, inbox: Inbox, j: int, name: str, C: int, m: int | None = None) -> Any:
        """Sender j's packed sieve residues (field ``name``, item m of a list), unpacked to
        C x L uint16 with every entry below its prime; else j is named."""
        value = self._field(inbox, j, name)
        try:
            words = value if m is None else value[m]
            out = unpack_slots(words, self.params.sieve)
        except (IndexError, TypeError, ValueError, AttributeError) as exc:
            raise InconsistentMessage(
                f"party {j} sent malformed sieve residues", party=j, phase="sieve"
            ) from exc
        if out.shape[0] != C:
            raise InconsistentMessage(
                f"party {j} sent residues for {out.shape[0]} candidates", party=j, phase="sieve"
            )
        return out

    def _reshare_products(self, cur: list[np.ndarray], ells: np.ndarray) -> Outbox:
        """BGW degree reduction: fresh degree-T shares of the local products of cur's pairs."""
        prm = self.params
        mod32 = ells.astype(np.int32)
        resh = []
        for m in range(len(cur) // 2):
            prod = cur[2 * m].astype(np.int32)
            prod *= cur[2 * m + 1]
            prod %= mod32
            resh.append(share_slots(prod, prm.T, prm.N, ells, self._rng, packed=True))
            del prod
        return {j: {"m": [r[j - 1] for r in resh]} for j in range(1, prm.N + 1)}

    def _modulus(
        self, shares: tuple[list[int], list[int]]
    ) -> Generator[tuple[str, Outbox], Inbox, tuple[ThresholdPublicKey, KeyShare] | None]:
        """N = p q by BGW over Z_P1 and opened; public checks; biprimality; then the key."""
        prm, rng = self.params, self._rng
        N, T, P1 = prm.N, prm.T, prm.P1
        p_i, q_i = shares
        sp, sq = share_field(p_i, T, N, P1, rng), share_field(q_i, T, N, P1, rng)
        inbox = yield "modulus", {j: {"p": sp[j - 1], "q": sq[j - 1]} for j in range(1, N + 1)}
        del sp, sq
        senders = range(1, N + 1)
        P_sh = sum_field([self._field(inbox, j, "p") for j in senders], P1)
        Q_sh = sum_field([self._field(inbox, j, "q") for j in senders], P1)
        inbox.clear()
        n_sh = [int(gmpy2.mpz(a) * b % P1) for a, b in zip(P_sh, Q_sh, strict=True)]
        del P_sh, Q_sh
        inbox = yield "modulus", {j: {"n": n_sh} for j in senders}
        opened = {j: self._field(inbox, j, "n") for j in senders}
        moduli = open_field(opened, 2 * T, P1)
        survivors = [k for k, n in enumerate(moduli) if self._plausible(n)]
        # this party's own filter (same result at every party: public inputs only): a factor
        # in [B2, 2^20) rules a candidate out before its costly screen exponentiations
        keep = coprime_to([moduli[k] for k in survivors], prm.screen_primorial)
        survivors = [k for k, ok in zip(survivors, keep, strict=True) if ok]
        # Boneh-Franklin screen: one base per surviving candidate.
        expo = [self._phi_share(moduli[k], p_i[k], q_i[k]) // 4 for k in survivors]
        g = [
            int(gmpy2.powmod(biprimality_base(moduli[k], 0), e, moduli[k]))
            for k, e in zip(survivors, expo, strict=True)
        ]
        inbox = yield "biprimality", {j: {"g": g} for j in senders}
        rows = {j: self._field(inbox, j, "g") for j in senders}
        passing = []
        for idx, k in enumerate(survivors):
            n = moduli[k]
            acc = gmpy2.mpz(1)
            for j in senders:
                acc = acc * rows[j][idx] % n
            if acc in (1, n - 1):
                passing.append(k)
        for k in passing:
            self._check_redundant(opened, k, 2 * T, P1)
            key = yield from self._key(moduli[k], p_i[k], q_i[k])
            if key is not None:
                return key
        return None

    def _plausible(self, n: int) -> bool:
        """Public checks on an opened candidate: size, N = 1 mod 4, no prime factor < B2."""
        small = self.params.unsieved_primorial
        return (
            n.bit_length() == self.params.n_bits
            and n % 4 == 1
            and math.gcd(n % small, small) == 1  # most candidates fail here, for a small mod
            and not gmpy2.is_square(n)
            and gmpy2.gcd(n, self.params.trial_primorial) == 1
        )

    def _phi_share(self, n: int, p: int, q: int) -> int:
        """Additive share of phi(N): N + 1 - p_1 - q_1 for party 1, -(p_i + q_i) otherwise."""
        return n + 1 - p - q if self.i == 1 else -(p + q)

    def _check_redundant(self, opened: dict[int, list[int]], k: int, degree: int, P: int) -> None:
        """The opened shares beyond the first degree+1 must lie on the same polynomial."""
        pts = sorted(opened)
        base = pts[: degree + 1]
        for j in pts[degree + 1 :]:
            want = interpolate_at(base, [opened[b][k] for b in base], j, P)
            if want != opened[j][k] % P:
                raise InconsistentMessage(
                    "the opened shares of N are not on one polynomial", phase="modulus"
                )

    def _open(self, inbox: Inbox, name: str, P: int) -> int:
        opened = {j: self._field(inbox, j, name) for j in range(1, self.params.N + 1)}
        value = open_field(opened, 2 * self.params.T, P)[0]
        self._check_redundant(opened, 0, 2 * self.params.T, P)
        return value

    def _key(
        self, n: int, p: int, q: int
    ) -> Generator[tuple[str, Outbox], Inbox, tuple[ThresholdPublicKey, KeyShare] | None]:
        """Confirm biprimality, then share d = phi x (d = 0 mod phi, d = 1 mod N) t-of-N.

        z1 = phi beta + N s is opened (N s masks the quotient), gamma = z1 mod N = phi beta
        mod N; gcd(gamma, N) = 1 also shows gcd(N, p + q - 1) = 1 (Boneh-Franklin's last
        check), since gamma = -(p + q - 1) beta mod N. theta = gamma^-1 mod N; each party
        reduces w_i = beta_i theta mod N, x = sum w_i = beta theta (mod N), and z2 = phi x + R
        is opened, so d = phi x has integer additive shares d_1 = z2 - R_1, d_i = -R_i.
        """
        prm, i, rng = self.params, self.i, self._rng
        N, T, P2, senders = prm.N, prm.T, prm.P2, range(1, prm.N + 1)
        phi_i = self._phi_share(n, p, q)
        e = phi_i // 4
        # one exponent and one modulus for all the bases: the multi-buffer kernel's case
        bases = [biprimality_base(n, r) for r in range(1, BIPRIMALITY_REPS + 1)]
        if e < 0:  # parties 2..N hold -(p_i + q_i) / 4
            bases = [int(gmpy2.invert(b, n)) for b in bases]
        e_bits = prm.n_bits + 1 if i == 1 else prm.half + 1  # public bounds on |e|
        g = powmod_same_exp(bases, abs(e), n, e_bits)
        beta_i = randbelow(rng, prm.beta_bound)
        s_i = int(rng.getrandbits(prm.s_bits))
        dealt = share_field([phi_i, beta_i, s_i], T, N, P2, rng)
        inbox = yield "biprimality", {j: {"g": g, "k": dealt[j - 1]} for j in senders}
        del dealt
        for r in range(BIPRIMALITY_REPS):
            acc = gmpy2.mpz(1)
            for j in senders:
                acc = acc * self._field(inbox, j, "g")[r] % n
            if acc not in (1, n - 1):
                return None
        got = [self._field(inbox, j, "k") for j in senders]
        PHI = sum(x[0] for x in got) % P2
        BETA = sum(x[1] for x in got) % P2
        S = sum(x[2] for x in got) % P2
        inbox = yield "key", {j: {"z": [(PHI * BETA + n * S) % P2]} for j in senders}
        z1 = self._open(inbox, "z", P2)
        gamma = z1 % n
        if gmpy2.gcd(gamma, n) != 1:
            return None
        theta = int(gmpy2.invert(gamma, n))
        w_i = beta_i * theta % n
        R_i = int(rng.getrandbits(prm.R_bits))
        dealt = share_field([w_i, R_i], T, N, P2, rng)
        inbox = yield "key", {j: {"k": dealt[j - 1]} for j in senders}
        del dealt
        got = [self._field(inbox, j, "k") for j in senders]
        W = sum(x[0] for x in got) % P2
        RR = sum(x[1] for x in got) % P2
        inbox = yield "key", {j: {"z": [(PHI * W + RR) % P2]} for j in senders}
        z2 = self._open(inbox, "z", P2)
        d_i = z2 - R_i if i == 1 else -R_i
        del PHI, W, RR, BETA, S
        return (yield from self._share_key(n, d_i, {"N": n, "z1": z1, "z2": z2}))

    def _share_key(
        self, n: int, d_i: int, public: dict[str, int]
    ) -> Generator[tuple[str, Outbox], Inbox, tuple[ThresholdPublicKey, KeyShare]]:
        """Integer Shamir of d_i with Feldman commitments C_ik = v^(a_ik) mod N^2; the test
        decryption with every party's Proof_CD."""
        prm, i, rng = self.params, self.i, self._rng
        N, t, senders = prm.N, prm.t, range(1, prm.N + 1)
        n2 = n * n
        v = verification_base(n)
        coeffs, f = share_integer(d_i, t, N, prm.coeff_bits, rng)
        commits = [int(gmpy2.powmod(v, a, n2)) for a in coeffs]
        del coeffs
        tau = self._unit(n)
        t_i = int(tau * tau % n)  # this party's factor of the ring-Pedersen base t
        del tau
        out = {j: {"f": f[j - 1], "C": commits, "t": t_i, "N": n} for j in senders}
        inbox = yield "share", out
        del f, out
        for j in senders:  # the dealer's own N makes its message checkable by anyone
            if self._field(inbox, j, "N") != n:
                raise InconsistentMessage(f"party {j} shares for another N", party=j)
        rp_t = math.prod(gmpy2.mpz(self._field(inbox, j, "t")) for j in senders) % n
        f_in = {j: self._field(inbox, j, "f") for j in senders}
        C_in = {j: self._field(inbox, j, "C") for j in senders}
        for j in senders:
            if len(C_in[j]) != t:
                raise InconsistentMessage(f"party {j} sent {len(C_in[j])} commitments", party=j)
        self._check_feldman(v, n2, f_in, C_in)
        s_i = sum(f_in.values())
        V = [math.prod(gmpy2.mpz(C_in[j][k]) for j in senders) % n2 for k in range(t)]
        v_i = []
        for x in senders:
            acc = gmpy2.mpz(1)
            for k in range(t):
                acc = acc * gmpy2.powmod(V[k], x**k, n2) % n2
            v_i.append(int(gmpy2.powmod(acc, prm.delta, n2)))
        pk = ThresholdPublicKey(n=n, h_s=randomness_base(n), v=v, v_i=tuple(v_i), N=N, t=t)
        share = KeyShare(i=i, s_i=int(s_i))
        if s_i <= 0 or int(s_i).bit_length() > share_bits_bound(pk):
            raise CeremonyError("the key share is outside the range a key share may have")
        c = test_ciphertext(n, pk.h_s)
        c_i = partial_decrypt(pk, share, c)
        pf = prove_cd(pk, share, [c], [c_i], rng, ctx=ceremony_share_context(pk, i))
        # ring-Pedersen: s = t^lambda with lambda = sum lambda_j; Pi^prm's first messages
        lam_bits, a_bits = self._prm_bits(n)
        lam_i = int(rng.getrandbits(lam_bits))
        a_i = [int(rng.getrandbits(a_bits)) for _ in range(PRM_M)]
        s_i_rp = int(gmpy2.powmod(rp_t, lam_i, n))
        A_i = [int(gmpy2.powmod(rp_t, a, n)) for a in a_i]
        out = {"c": c_i, "a": pf.a, "b": pf.b, "e": pf.e, "z": pf.z, "s": s_i_rp, "A": A_i}
        inbox = yield "test-decryption", {j: out for j in senders}
        parts, proofs = {}, {}
        for j in senders:
            c_j = self._field(inbox, j, "c")
            proof = ProofCD(*(self._field(inbox, j, x) for x in ("a", "b", "e", "z")))
            proofs[j] = [proof.a, proof.b, proof.e, proof.z]
            if not verify_cd(pk, j, [c], [c_j], proof, ctx=ceremony_share_context(pk, j)):
                raise InconsistentMessage(
                    f"party {j}'s test decryption share has a bad Proof_CD", party=j
                )
            parts[j] = c_j
        if combine(pk, parts) != test_plaintext(n):
            raise InconsistentMessage("the test decryption does not give the test plaintext")
        rp = yield from self._ring_pedersen(pk, rp_t, lam_i, a_i, inbox)
        del lam_i, a_i
        pk = dataclasses.replace(pk, ring_pedersen=rp)
        self.transcript = {
            **public,
            "commitments": [list(C_in[j]) for j in senders],
            "test_shares": [parts[j] for j in senders],
            "test_proofs": [proofs[j] for j in senders],
        }
        return pk, share

    def _unit(self, n: int) -> gmpy2.mpz:
        while True:
            x = gmpy2.mpz(randbelow(self._rng, n))
            if x > 1 and gmpy2.gcd(x, n) == 1:
                return x

    def _prm_bits(self, n: int) -> tuple[int, int]:
        """Bits of lambda_j and of Pi^prm's a_jk so that z_k = sum_j (a_jk + e_k lambda_j)
        stays below N^ = N, as verify_prm requires, while a_jk hides e_k lambda_j (2^-KAPPA)."""
        a_bits = n.bit_length() - 2 - self.params.N.bit_length()
        return a_bits - self.params.kappa - 1, a_bits

    def _ring_pedersen(
        self, core: ThresholdPublicKey, t: int, lam_i: int, a_i: list[int], inbox: Inbox
    ) -> Generator[tuple[str, Outbox], Inbox, RingPedersenParams]:
        """The group's ring-Pedersen parameters over N^ = N, made jointly (CGGMP'20 section
        3.3 and Fig. 17, with lambda and each a_k additively shared over the integers):
        t = prod t_j (t_j = tau_j^2), s = prod t^lambda_j, A_k = prod t^a_jk, one challenge
        e over (N, s, t, A) in the key-ceremony context, z_k = sum_j (a_jk + e_k lambda_j).
        Nobody knows log_t s, a root of t or s, or the order of QR_N."""
        n, senders = core.n, range(1, self.params.N + 1)
        s_in = {j: int(self._field(inbox, j, "s")) for j in senders}
        A_in = {j: self._field(inbox, j, "A") for j in senders}
        for j in senders:
            if len(A_in[j]) != PRM_M:
                raise InconsistentMessage(f"party {j} sent a malformed Pi^prm share", party=j)
        s = int(math.prod(gmpy2.mpz(x) for x in s_in.values()) % n)
        A = tuple(int(math.prod(gmpy2.mpz(A_in[j][k]) for j in senders) % n) for k in range(PRM_M))
        ctx = key_ceremony_context(core)
        e = prm_challenge((n, s, int(t)), A, ctx)
        z_i = [a + ((e >> k) & 1) * lam_i for k, a in enumerate(a_i)]
        inbox = yield "ring-pedersen", {j: {"z": z_i} for j in senders}
        z_in = {j: self._field(inbox, j, "z") for j in senders}
        z = tuple(sum(z_in[j][k] for j in senders) for k in range(PRM_M))
        params = RingPedersenParams(N_hat=n, s=s, t=int(t), A=A, z=z)
        if verify_prm(params, ctx):
            return params
        for j in senders:  # name the party whose contribution fails its own equation
            for k in range(PRM_M):
                rhs = gmpy2.mpz(A_in[j][k]) * (s_in[j] if (e >> k) & 1 else 1) % n
                if len(z_in[j]) != PRM_M or gmpy2.powmod(t, z_in[j][k], n) != rhs:
                    raise InconsistentMessage(
                        f"party {j}'s Pi^prm response is wrong", party=j, phase="ring-pedersen"
                    )
        raise InconsistentMessage("the joint Pi^prm does not verify", phase="ring-pedersen")

    def _check_feldman(
        self, v: int, n2: int, f_in: dict[int, int], C_in: dict[int, list[int]]
    ) -> None:
        """v^(f_j(i)) = prod_k C_jk^(i^k) for every dealer j: one batched check with random
        64-bit weights, then per dealer (to name the sender) only if the batch fails."""
        i, rng = self.i, self._rng
        t = self.params.t

        def rhs(j: int) -> gmpy2.mpz:
            acc = gmpy2.mpz(1)
            for k in range(t):
                acc = acc * gmpy2.powmod(C_in[j][k], i**k, n2) % n2
            return acc

        rho = {j: int(rng.getrandbits(64)) | 1 for j in f_in}
        lhs = gmpy2.powmod(v, sum(rho[j] * f_in[j] for j in f_in), n2)
        acc = gmpy2.mpz(1)
        for j in f_in:
            acc = acc * gmpy2.powmod(rhs(j), rho[j], n2) % n2
        if lhs == acc:
            return
        for j in sorted(f_in):
            if gmpy2.powmod(v, f_in[j], n2) != rhs(j):
                raise InconsistentMessage(
                    f"party {j}'s share is not on its committed polynomial", party=j, phase="share"
                )
        raise InconsistentMessage("the shares fail the batched commitment check", phase="share")


def ceremony_share_context(pk: ThresholdPublicKey, j: int) -> ProofContext:
    """The proof context of party j's Proof_CD on the ceremony's test decryption."""
    return ProofContext(
        pk_fingerprint=pk.paillier_fingerprint(),
        group="",
        round=0,
        phase="key_ceremony",
        party_index=j,
        party_address="",
    )
