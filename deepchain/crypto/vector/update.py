"""An encrypted update: its byte format, encryption with Proof_PK (batched by default) and the
slot-bound proof, the Trading contract's check, and the Processing contract's homomorphic sum."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gmpy2 import mpz

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import (
    ThresholdPublicKey,
    comb_table,
    raw_times_1_plus_mn,
)
from deepchain.crypto.randomness import RNG, rng_or_system
from deepchain.crypto.security_params import ALPHA_BITS
from deepchain.crypto.serialize import (
    CryptoFormatError,
    Reader,
    Writer,
    check_header,
    check_unit,
    get_hex_list,
    get_int,
    hexs,
)
from deepchain.crypto.vector.chunks import map_chunks
from deepchain.crypto.zk.batch_proof_pk import (
    BatchProofPK,
    batch_proof_max_bytes,
    prove_update,
    verify_update_proof,
)
from deepchain.crypto.zk.proof_pk import ProofPK, prove_pk, verify_pk
from deepchain.crypto.zk.slot_bound import (
    SlotBoundProof,
    prove_slot_bound,
    slot_bound_failure,
    slot_bound_max_bytes,
)
from deepchain.crypto.zk.transcript import ProofContext

MAX_LENGTH = 1 << 40


def ciphertext_width(n: int) -> int:
    """Bytes of one ciphertext (an element of Z_n^2) in the byte format."""
    return ((n * n).bit_length() + 7) // 8


def update_max_bytes(scheme: PackingScheme, length: int) -> int:
    """Most bytes an honest proven update of ``length`` coordinates takes in the byte format
    (``EncryptedUpdate.to_bytes`` with the key): header, k = ceil(length / s) ciphertexts of
    |n^2| bytes, the batched Proof_PK and, if the scheme has a bound, the slot-bound proof.
    Every honest update blob of the scheme is at most this long, and at most a few kilobytes
    (the proofs' variable-length integers) shorter."""
    k = scheme.n_ciphertexts(length)
    if k == 0:
        return 22
    size = 22 + k * ((2 * scheme.n_bits + 7) // 8)
    size += batch_proof_max_bytes(scheme.n_bits, scheme.plaintext_bits, scheme.batch_log)
    if scheme.bound is not None:
        bits, b, c2 = scheme.n_bits, scheme.bound, scheme.l2_bound
        size += 8 + slot_bound_max_bytes(bits, b, k, length, c2)
    return size


@dataclass(frozen=True)
class EncryptedUpdate:
    """C(dW): packed ciphertexts, vector length, and Proof_PK: either one batched proof for
    the whole update (batch_proof) or one per ciphertext (proofs), or none (an aggregate);
    in a group with a bound, the slot-bound proof that every coordinate is within it."""

    ciphertexts: list[int]
    proofs: list[ProofPK]
    length: int
    batch_proof: BatchProofPK | None = None
    bound_proof: SlotBoundProof | None = None

    def to_json(self) -> dict[str, Any]:
        d = {
            "type": "encrypted_update",
            "version": 1,
            "length": self.length,
            "ciphertexts": hexs(self.ciphertexts),
            "proofs": [p.to_json() for p in self.proofs],
        }
        if self.batch_proof is not None:  # absent otherwise: older records parse unchanged
            d["batch_proof"] = self.batch_proof.to_json()
        if self.bound_proof is not None:
            d["bound_proof"] = self.bound_proof.to_bytes().hex()
        return d

    @classmethod
    def from_json(cls, d: Any, pk: ThresholdPublicKey | None = None) -> EncryptedUpdate:
        ctx = "EncryptedUpdate"
        check_header(d, "encrypted_update")
        length = get_int(d, "length", ctx, 0, MAX_LENGTH)
        cts = get_hex_list(d, "ciphertexts", ctx)
        proofs_raw = d.get("proofs")
        if not isinstance(proofs_raw, list):
            raise CryptoFormatError(f"{ctx}: proofs must be a list")
        proofs = [ProofPK.from_json(p) for p in proofs_raw]
        batch = BatchProofPK.from_json(d["batch_proof"]) if "batch_proof" in d else None
        bound = None
        if "bound_proof" in d:
            raw = d["bound_proof"]
            try:
                bound = SlotBoundProof.from_bytes(bytes.fromhex(raw))
            except (TypeError, ValueError) as exc:
                raise CryptoFormatError(f"{ctx}: bad bound_proof") from exc
        return cls._checked(cts, proofs, length, pk, batch, bound)

    @classmethod
    def _checked(
        cls,
        cts: list[int],
        proofs: list[ProofPK],
        length: int,
        pk: ThresholdPublicKey | None,
        batch: BatchProofPK | None = None,
        bound: SlotBoundProof | None = None,
    ) -> EncryptedUpdate:
        if bound is not None and not cts:
            raise CryptoFormatError("EncryptedUpdate: a slot-bound proof needs ciphertexts")
        if proofs and len(proofs) != len(cts):
            raise CryptoFormatError("EncryptedUpdate: one proof per ciphertext (or none)")
        if batch is not None and (proofs or not cts):
            raise CryptoFormatError("EncryptedUpdate: a batch proof needs ciphertexts, alone")
        if length < len(cts) or (length and not cts):
            raise CryptoFormatError("EncryptedUpdate: length inconsistent with ciphertexts")
        if pk is not None:
            for k, c in enumerate(cts):
                check_unit(c, pk.n, f"EncryptedUpdate.ciphertexts[{k}]")
        return cls(
            ciphertexts=cts, proofs=proofs, length=length, batch_proof=batch, bound_proof=bound
        )

    def to_bytes(self, pk: ThresholdPublicKey | None = None) -> bytes:
        """Compact form: fixed-width ciphertexts (|n^2| bytes each), then the proof(s).

        Proof flag: 0 none, 1 one Proof_PK per ciphertext, 2 one BatchProofPK; plus 4 if a
        slot-bound proof follows (its length in 8 bytes, then its bytes)."""
        width = (
            ciphertext_width(pk.n)
            if pk
            else max((c.bit_length() + 7) // 8 for c in self.ciphertexts)
        )
        w = Writer(b"DCEU")
        w.u64(self.length)
        w.u32(len(self.ciphertexts))
        w.u32(width)
        flag = 2 if self.batch_proof is not None else 1 if self.proofs else 0
        w.u8(flag | (4 if self.bound_proof is not None else 0))
        for c in self.ciphertexts:
            w.fixed(c, width)
        for p in self.proofs:
            p.write(w)
        if self.batch_proof is not None:
            self.batch_proof.write(w)
        if self.bound_proof is not None:
            raw = self.bound_proof.to_bytes()
            w.u64(len(raw))
            w.parts.append(raw)
        return w.getvalue()

    @staticmethod
    def _read_head(
        data: bytes, pk: ThresholdPublicKey | None
    ) -> tuple[Reader, int, list[int], int, bool]:
        """The compact form's header and ciphertexts: (reader at the proofs, length,
        ciphertexts, which Proof_PK form, whether a slot-bound proof follows)."""
        r = Reader(data, b"DCEU")
        length, k, width, flag = r.u64(), r.u32(), r.u32(), r.u8()
        has, has_bound = flag & 3, bool(flag & 4)
        if length > MAX_LENGTH or has not in (0, 1, 2) or flag & ~7 or width > 1 << 16:
            raise CryptoFormatError("EncryptedUpdate: bad header")
        if pk is not None and width != ciphertext_width(pk.n):
            raise CryptoFormatError("EncryptedUpdate: ciphertext width does not match key")
        if k * width > len(data):
            raise CryptoFormatError("truncated data")
        return r, length, [r.fixed(width) for _ in range(k)], has, has_bound

    @classmethod
    def ciphertexts_from_bytes(cls, data: bytes, pk: ThresholdPublicKey) -> tuple[int, list[int]]:
        """Only the vector length and the ciphertexts (each a unit mod n^2) of the compact
        form, its proofs left unparsed: what a decryptor needs to recompute an aggregate, at a
        small fraction of the cost of reading the proofs (checked by the verifier, not here)."""
        _r, length, cts, _has, _bound = cls._read_head(data, pk)
        if length < len(cts) or (length and not cts):
            raise CryptoFormatError("EncryptedUpdate: length inconsistent with ciphertexts")
        for k, c in enumerate(cts):
            check_unit(c, pk.n, f"EncryptedUpdate.ciphertexts[{k}]")
        return length, cts

    @classmethod
    def from_bytes(cls, data: bytes, pk: ThresholdPublicKey | None = None) -> EncryptedUpdate:
        r, length, cts, has, has_bound = cls._read_head(data, pk)
        k = len(cts)
        proofs = [ProofPK.read(r) for _ in range(k)] if has == 1 else []
        batch = BatchProofPK.read(r) if has == 2 else None
        bound = SlotBoundProof.from_bytes(r.take(r.u64())) if has_bound else None
        r.end()
        return cls._checked(cts, proofs, length, pk, batch, bound)


def proof_context(
    pk: ThresholdPublicKey, group: str, round_no: int, phase: str, index: int, address: str
) -> ProofContext:
    """The context of a party's proof: PK_model's fingerprint, the group address, the round,
    the phase (the clock's phase name), the party's index in PK_model and its address."""
    return ProofContext(
        pk_fingerprint=pk.fingerprint(),
        group=group,
        round=int(round_no),
        phase=phase,
        party_index=int(index),
        party_address=address,
    )


def _enc_chunk(
    pk: ThresholdPublicKey,
    ms: list[int],
    B: int,
    prove: bool,
    ctx: ProofContext | None,
    lo: int,
    hi: int,
    rng: Any,
) -> list[tuple[int, ProofPK | None]]:
    r = rng_or_system(rng)
    n = mpz(pk.n)
    tab = comb_table(pk.n, pk.h_s)
    out = []
    k = len(ms)
    for j in range(lo, hi):
        m = ms[j]
        alpha = r.getrandbits(ALPHA_BITS)
        c = int(raw_times_1_plus_mn(tab.pow(alpha), m, n))
        proof = None
        if prove and ctx is not None:
            proof = prove_pk(pk, c, m, alpha, B, r, ctx=ctx, position=(j, k))
        out.append((c, proof))
    return out


def _enc_alpha_chunk(
    pk: ThresholdPublicKey, ms: list[int], lo: int, hi: int, rng: Any
) -> list[tuple[int, int]]:
    r = rng_or_system(rng)
    n = mpz(pk.n)
    tab = comb_table(pk.n, pk.h_s)
    out = []
    for m in ms[lo:hi]:
        alpha = r.getrandbits(ALPHA_BITS)
        out.append((int(raw_times_1_plus_mn(tab.pow(alpha), m, n)), alpha))
    return out


PROOF_MODES = ("batch", "each")


def encrypt_update(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    q: np.ndarray,
    rng: RNG | None = None,
    prove: bool = True,
    processes: int = 1,
    proof_mode: str = "batch",
    *,
    ctx: ProofContext | None = None,
) -> EncryptedUpdate:
    """Pack the quantized vector q and encrypt each plaintext; attach Proof_PK bound to the
    proof context ``ctx`` (required unless ``prove`` is False).

    proof_mode "batch" (default): one BatchProofPK for the whole update (cheapest for more
    than a few dozen ciphertexts); "each": one ProofPK per ciphertext, bound to its position.
    If the scheme has a bound, the slot-bound proof for it (and its L2 bound) is attached too
    (batch mode; q must be within the bounds: ``scheme.quantize`` clips to them).
    """
    if scheme.n_bits != pk.n.bit_length():
        raise ValueError("packing scheme was made for a different key size")
    if proof_mode not in PROOF_MODES:
        raise ValueError(f"proof_mode must be one of {PROOF_MODES}")
    if prove and not isinstance(ctx, ProofContext):
        raise ValueError("a proven update needs its ProofContext")
    q = np.asarray(q)
    ms = scheme.pack(q)
    comb_table(pk.n, pk.h_s)  # build before forking so workers inherit it
    if prove and scheme.bound is not None and proof_mode == "each":
        raise ValueError("the slot-bound proof goes with the batched Proof_PK")
    if not prove or proof_mode == "each":
        args = (pk, ms, scheme.plaintext_bits, prove, ctx)
        res = map_chunks(_enc_chunk, len(ms), processes, args, rng)
        cts = [c for c, _ in res]
        proofs = [p for _, p in res] if prove else []
        return EncryptedUpdate(ciphertexts=cts, proofs=proofs, length=int(q.size))
    res = map_chunks(_enc_alpha_chunk, len(ms), processes, (pk, ms), rng)
    cts = [c for c, _ in res]
    alphas = [a for _, a in res]
    batch = prove_update(pk, scheme, cts, ms, alphas, rng, ctx=ctx) if cts else None
    bound = None
    if scheme.bound is not None and cts:
        bound = prove_slot_bound(
            pk, scheme, scheme.bound, q, cts, alphas, rng, ctx=ctx, c2=scheme.l2_bound
        )
    return EncryptedUpdate(
        ciphertexts=cts, proofs=[], length=int(q.size), batch_proof=batch, bound_proof=bound
    )


def _verify_chunk(
    pk: ThresholdPublicKey,
    upd: EncryptedUpdate,
    B: int,
    ctx: ProofContext,
    lo: int,
    hi: int,
    _rng: Any,
) -> list[bool]:
    k = len(upd.ciphertexts)
    return [
        verify_pk(pk, upd.ciphertexts[j], upd.proofs[j], B, ctx=ctx, position=(j, k))
        for j in range(lo, hi)
    ]


def verify_update(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    upd: EncryptedUpdate,
    processes: int = 1,
    *,
    ctx: ProofContext,
) -> bool:
    """fsver1: right number of ciphertexts for the length and the batched Proof_PK, or every
    per-ciphertext Proof_PK (each at its position), verifies for the context ``ctx`` the
    verifier expects (an update without any proof is rejected)."""
    if scheme.n_bits != pk.n.bit_length() or not isinstance(ctx, ProofContext):
        return False
    k = len(upd.ciphertexts)
    if k != scheme.n_ciphertexts(upd.length):
        return False
    if upd.batch_proof is not None:
        return not upd.proofs and verify_update_proof(
            pk, scheme, upd.ciphertexts, upd.batch_proof, ctx=ctx
        )
    if len(upd.proofs) != k:
        return False
    comb_table(pk.n, pk.h_s)
    res = map_chunks(_verify_chunk, k, processes, (pk, upd, scheme.plaintext_bits, ctx))
    return all(res)


def update_refusal(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    upd: EncryptedUpdate,
    processes: int = 1,
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
) -> str:
    """Why the Trading contract refuses an update ("" if it accepts): its Proof_PK
    (``verify_update``), then, in a group with a bound, its slot-bound proof (every
    coordinate within the bound and, with an L2 bound, its norm within it; the reason names
    the failed check). The platform and the offline auditor both decide with this function."""
    if not verify_update(pk, scheme, upd, processes, ctx=ctx):
        return "Proof_PK does not verify"
    if scheme.bound is None:
        return ""
    if upd.bound_proof is None:
        return "no slot-bound proof for the group's bound"
    why = slot_bound_failure(pk, scheme, scheme.bound, upd.length, upd.ciphertexts,
                             upd.bound_proof, rng, ctx=ctx, c2=scheme.l2_bound)  # fmt: skip
    if why == "norm":
        return "slot-bound proof does not verify (norm: over the L2 bound)"
    return "" if why is None else f"slot-bound proof does not verify ({why})"


def aggregate(pk: ThresholdPublicKey, vectors: list[list[int]]) -> list[int]:
    """Element-wise product mod n^2: Enc(sum of the vectors)."""
    if not vectors:
        raise ValueError("nothing to aggregate")
    k = len(vectors[0])
    if any(len(v) != k for v in vectors):
        raise ValueError("ciphertext vectors differ in length")
    n2 = mpz(pk.n2)
    out = []
    for j in range(k):
        acc = mpz(vectors[0][j])
        for v in vectors[1:]:
            acc = acc * v[j] % n2
        out.append(int(acc))
    return out
