"""Signed ledger transactions (paper 4.2: every step of a round is a transaction).

A transaction is a typed, signed, replay-protected record. Its canonical byte encoding
(``signing_bytes``) is canonical JSON of every field except the signature, tagged with a
format version and a domain string, so a signature made for a transaction can never be
replayed as a vote, a block header or another protocol's message. ``tx_hash`` commits to the
signing bytes *and* the signature, so editing any byte of a stored transaction changes it.

Large data (ciphertext vectors, shares, proofs) never goes into a payload: only its blob hash
(see ``deepchain.blobs``) under a key named ``blob``, ``*_blob`` or ``blobs``.

Transactions are immutable: the payload is deep-frozen (dicts become read-only ``FrozenDict``,
lists become tuples), which is what makes caching the signing bytes and the signature check
on the instance sound.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from deepchain.canonical import FORMAT_VERSION, canonical_json, tagged_hash
from deepchain.crypto.identity import Identity, signature_from_hex, verify_signature

TX_DOMAIN = "deepchain/tx"
GENESIS_SENDER = "00" * 32
_PK_RE = re.compile(r"[0-9a-f]{64}")
_HEX_RE = re.compile(r"[0-9a-f]*")  # the genesis transaction is the only unsigned one


class TxKind(StrEnum):
    """Transaction types of DeepChain (paper 4.2.1-4.2.5)."""

    GENESIS = "genesis"  # bootstrapping: initial DeepCoin allocation (4.2.1)
    GROUP_CREATE = "group_create"  # Tran_co: N, r, PK_model, model, commits, C(W_0), deposit d
    JOIN = "join"
    DEPOSIT = "deposit"  # stake into escrow:<group>
    TRANSFER = "transfer"
    ASSET = "asset"  # asset statement
    GRADIENT = "gradient"  # C(dW) + Proof_PK, by blob hash
    VERIFY = "verify"  # verification result of a contract
    AGGREGATE = "aggregate"  # C(W_i)
    DECRYPTION_SHARE = "decryption_share"  # c_j + Proof_CD, by blob hash
    #: a party's signed refusal to decrypt an aggregate it could not verify, with its reason
    DECRYPTION_REFUSAL = "decryption_refusal"
    PAYOUT = "payout"  # payback / extra pay / worker fee
    PENALTY = "penalty"
    CLOCK = "clock"  # a phase closed (deadline T_tk reached)
    REJECTION = "rejection"  # a rejected transaction, recorded with its reason
    EQUIVOCATION = "equivocation"  # evidence: a committee member signed two blocks at one (h, k)


class TxFormatError(ValueError):
    """A transaction (or block) document that is malformed: wrong/missing/unknown fields."""


class InvalidTransaction(Exception):
    """A well-formed transaction that the ledger rules reject; ``reason`` says why."""

    def __init__(self, reason: str, tx_hash: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tx_hash = tx_hash


class FrozenDict(dict):
    """A read-only dict (JSON-serializable as a plain dict)."""

    def _ro(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("transaction payloads are immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _ro  # type: ignore
    __ior__ = _ro  # type: ignore

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(canonical_json(self))

    def __reduce__(self) -> tuple:  # pickling (process-pool verification)
        return (FrozenDict, (dict(self),))


def freeze(value: Any, *, where: str = "payload") -> Any:
    """Deep-freeze a JSON value; rejects non-JSON types, non-str keys and non-finite floats."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TxFormatError(f"{where}: keys must be strings, got {k!r:.40}")
            out[k] = freeze(v, where=f"{where}.{k}")
        return FrozenDict(out)
    if isinstance(value, list | tuple):
        return tuple(freeze(v, where=f"{where}[]") for v in value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TxFormatError(f"{where}: non-finite float")
        return value
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TxFormatError(f"{where}: {type(value).__name__} is not JSON")


def thaw(value: Any) -> Any:
    """Plain (mutable) JSON copy of a frozen value."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def is_pk_hex(s: object) -> bool:
    """True iff ``s`` looks like an Ed25519 public key in lowercase hex (64 digits)."""
    return isinstance(s, str) and _PK_RE.fullmatch(s) is not None


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True, eq=False)
class Transaction:
    """A signed ledger transaction; see the module docstring for the encoding."""

    kind: TxKind
    sender: str
    nonce: int
    payload: dict
    group: str | None = None
    round: int | None = None
    phase: str | None = None
    timestamp_ms: int = 0
    signature: str = ""
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            kind = TxKind(self.kind)
        except ValueError as exc:
            raise TxFormatError(f"unknown transaction kind {self.kind!r:.40}") from exc
        object.__setattr__(self, "kind", kind)
        if not is_pk_hex(self.sender):
            raise TxFormatError("sender must be a 64-digit lowercase hex public key")
        if not _is_int(self.nonce) or self.nonce < 0:
            raise TxFormatError("nonce must be a non-negative int")
        if not isinstance(self.payload, dict):
            raise TxFormatError("payload must be a dict")
        object.__setattr__(self, "payload", freeze(self.payload))
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise TxFormatError("group must be a non-empty string or None")
        if self.round is not None and (not _is_int(self.round) or self.round < 0):
            raise TxFormatError("round must be a non-negative int or None")
        if self.phase is not None and not isinstance(self.phase, str):
            raise TxFormatError("phase must be a string or None")
        if not _is_int(self.timestamp_ms) or self.timestamp_ms < 0:
            raise TxFormatError("timestamp_ms must be a non-negative int")
        if not isinstance(self.signature, str) or not _HEX_RE.fullmatch(self.signature):
            raise TxFormatError("signature must be lowercase hex")

    # -- encoding ---------------------------------------------------------------------
    def _body(self) -> dict:
        return {
            "kind": str(self.kind),
            "sender": self.sender,
            "nonce": self.nonce,
            "payload": self.payload,
            "group": self.group,
            "round": self.round,
            "phase": self.phase,
            "timestamp_ms": self.timestamp_ms,
        }

    def signing_bytes(self) -> bytes:
        """Canonical JSON of all fields but the signature, with version and domain tag."""
        sb = self._cache.get("sb")
        if sb is None:
            sb = canonical_json({"v": FORMAT_VERSION, "domain": TX_DOMAIN, "body": self._body()})
            self._cache["sb"] = sb
        return sb

    @property
    def tx_hash(self) -> str:
        """SHA-256 (tagged) of signing bytes + signature: the transaction's identity."""
        h = self._cache.get("h")
        if h is None:
            h = tagged_hash("deepchain/tx-hash", self.signing_bytes() + self.signature.encode())
            self._cache["h"] = h
        return h

    def to_dict(self) -> dict:
        d = thaw(self._body())
        d["signature"] = self.signature
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Transaction:
        """Strict parse: unknown or missing fields raise TxFormatError."""
        if not isinstance(d, dict):
            raise TxFormatError("transaction must be an object")
        names = {f.name for f in fields(cls) if f.init}
        required = {"kind", "sender", "nonce", "payload"}
        unknown = set(d) - names
        missing = required - set(d)
        if unknown:
            raise TxFormatError(f"unknown transaction fields: {sorted(unknown)}")
        if missing:
            raise TxFormatError(f"missing transaction fields: {sorted(missing)}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise TxFormatError(str(exc)) from exc

    # -- signatures -------------------------------------------------------------------
    def signed(self, identity: Identity) -> Transaction:
        """Copy signed by ``identity``; the sender must be the identity's address."""
        if self.sender != identity.address:
            raise ValueError("a transaction can only be signed by its sender")
        unsigned = Transaction(**{**self._init_fields(), "signature": ""})
        sig = identity.sign(unsigned.signing_bytes()).hex()
        return Transaction(**{**self._init_fields(), "signature": sig})

    def verify_signature(self) -> bool:
        """True iff ``signature`` is the sender's Ed25519 signature of ``signing_bytes``."""
        ok = self._cache.get("sig_ok")
        if ok is None:
            ok = check_signature(self.sender, self.signing_bytes(), self.signature)
            self._cache["sig_ok"] = ok
        return ok

    def with_signature(self, signature_hex: str) -> Transaction:
        """A copy carrying ``signature_hex`` as given (``verify_signature`` checks it)."""
        return Transaction(**{**self._init_fields(), "signature": signature_hex})

    @property
    def signature_checked(self) -> bool:
        """True once this transaction's signature check result is known (cached)."""
        return "sig_ok" in self._cache

    def record_signature_check(self, ok: bool) -> None:
        """Cache the result of checking this signature elsewhere (e.g. in a process pool)."""
        self._cache["sig_ok"] = ok

    def _init_fields(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transaction) and self.tx_hash == other.tx_hash

    def __hash__(self) -> int:
        return hash(self.tx_hash)


def check_signature(sender: str, message: bytes, signature_hex: str) -> bool:
    """True iff ``signature_hex`` is ``sender``'s Ed25519 signature of ``message``."""
    sig = signature_from_hex(signature_hex)
    return sig is not None and verify_signature(sender, message, sig)


def make_tx(
    identity: Identity,
    kind: TxKind | str,
    nonce: int,
    payload: dict,
    *,
    group: str | None = None,
    round: int | None = None,
    phase: str | None = None,
    timestamp_ms: int = 0,
) -> Transaction:
    """Build and sign a transaction from ``identity`` (convenience for callers and tests)."""
    tx = Transaction(
        kind=TxKind(kind),
        sender=identity.address,
        nonce=nonce,
        payload=payload,
        group=group,
        round=round,
        phase=phase,
        timestamp_ms=timestamp_ms,
    )
    return tx.signed(identity)


def make_rejection(
    identity: Identity, nonce: int, rejected: Transaction, reason: str, *, timestamp_ms: int = 0
) -> Transaction:
    """A REJECTION transaction recording that ``rejected`` was refused and why."""
    return make_tx(
        identity,
        TxKind.REJECTION,
        nonce,
        {
            "tx_hash": rejected.tx_hash,
            "tx_kind": str(rejected.kind),
            "tx_sender": rejected.sender,
            "tx_nonce": rejected.nonce,
            "reason": reason,
        },
        group=rejected.group,
        round=rejected.round,
        phase=rejected.phase,
        timestamp_ms=timestamp_ms,
    )


def blob_refs(payload: Any) -> list[str]:
    """Blob hashes a payload references: values of keys ``blob``, ``*_blob`` and ``blobs``."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "blob" or k.endswith("_blob"):
                    if isinstance(x, str):
                        out.append(x)
                elif k == "blobs" or k.endswith("_blobs"):
                    vals = x.values() if isinstance(x, dict) else x
                    if isinstance(vals, list | tuple) or hasattr(vals, "__iter__"):
                        out.extend(s for s in vals if isinstance(s, str))
                else:
                    walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    walk(payload)
    return out
