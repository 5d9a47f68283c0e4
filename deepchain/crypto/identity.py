"""Pseudonymous identities (the paper's pk_psu): an Ed25519 signing key and an X25519 key.

The signing key signs transactions; the X25519 key lets a dealer seal a key share to its
party (commit_SK_model = Enc(s_i || r || Sign(s_i || r)), see ``seal``/``open_sealed``).
Private keys live only in the holder's keystore file (mode 0600), never in a database.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_RAW = {"encoding": serialization.Encoding.Raw, "format": serialization.PublicFormat.Raw}
_SEAL_INFO = b"deepchain/seal/v1"


class IdentityError(ValueError):
    """A key, signature or sealed box that cannot be used."""


@dataclass(frozen=True)
class PublicIdentity:
    """The public half: what goes on chain and in the database."""

    sign_pk: str  # hex Ed25519 public key: the pseudonymous address
    box_pk: str  # hex X25519 public key: where sealed secrets are sent

    def verify(self, message: bytes, signature: bytes) -> bool:
        return verify_signature(self.sign_pk, message, signature)


class Identity:
    """A private identity held in a keystore file; never serialized anywhere else."""

    def __init__(self, sign_sk: Ed25519PrivateKey, box_sk: X25519PrivateKey) -> None:
        self._sign_sk = sign_sk
        self._box_sk = box_sk
        self.public = PublicIdentity(
            sign_pk=sign_sk.public_key().public_bytes(**_RAW).hex(),
            box_pk=box_sk.public_key().public_bytes(**_RAW).hex(),
        )

    @property
    def address(self) -> str:
        return self.public.sign_pk

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """Deterministic identity from a 32+ byte seed (tests and known-answer vectors)."""
        if len(seed) < 32:
            raise IdentityError("seed must be at least 32 bytes")
        h = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"deepchain/id/v1")
        raw = h.derive(seed)
        return cls(
            Ed25519PrivateKey.from_private_bytes(raw[:32]),
            X25519PrivateKey.from_private_bytes(raw[32:]),
        )

    def sign(self, message: bytes) -> bytes:
        return self._sign_sk.sign(message)

    def __repr__(self) -> str:  # never leak the private key through logs
        return f"Identity({self.address[:16]}…)"

    # -- keystore ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the keystore file with mode 0600 (created atomically with that mode)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "version": 1,
            "sign_sk": self._sign_sk.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            ).hex(),
            "box_sk": self._box_sk.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            ).hex(),
        }
        tmp = p.with_suffix(p.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, p)
        os.chmod(p, 0o600)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Identity:
        p = Path(path)
        try:
            doc = json.loads(p.read_text())
            return cls(
                Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["sign_sk"])),
                X25519PrivateKey.from_private_bytes(bytes.fromhex(doc["box_sk"])),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IdentityError(f"cannot load keystore {p}: {exc.__class__.__name__}") from exc

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> Identity:
        p = Path(path)
        if p.exists():
            return cls.load(p)
        ident = cls.generate()
        ident.save(p)
        return ident

    # -- sealed boxes --------------------------------------------------------------------
    def open_sealed(self, box: str) -> bytes:
        """Decrypt a box made by ``seal`` for this identity; raises IdentityError if forged."""
        try:
            raw = base64.b64decode(box, validate=True)
            eph_pk, nonce, ct = raw[:32], raw[32:44], raw[44:]
            shared = self._box_sk.exchange(X25519PublicKey.from_public_bytes(eph_pk))
            key = _box_key(shared, eph_pk, bytes.fromhex(self.public.box_pk))
            return ChaCha20Poly1305(key).decrypt(nonce, ct, _SEAL_INFO)
        except (ValueError, InvalidTag) as exc:
            raise IdentityError("sealed box does not open with this identity") from exc


def _box_key(shared: bytes, eph_pk: bytes, recipient_pk: bytes) -> bytes:
    h = HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pk + recipient_pk, info=_SEAL_INFO)
    return h.derive(shared)


def seal(recipient_box_pk: str, plaintext: bytes) -> str:
    """Encrypt ``plaintext`` to an X25519 public key (ephemeral ECDH + ChaCha20-Poly1305)."""
    recipient = bytes.fromhex(recipient_box_pk)
    eph = X25519PrivateKey.generate()
    eph_pk = eph.public_key().public_bytes(**_RAW)
    key = _box_key(eph.exchange(X25519PublicKey.from_public_bytes(recipient)), eph_pk, recipient)
    nonce = os.urandom(12)
    ct = ChaCha20Poly1305(key).encrypt(nonce, plaintext, _SEAL_INFO)
    return base64.b64encode(eph_pk + nonce + ct).decode()


def signature_from_hex(signature_hex: str) -> bytes | None:
    """The 64 signature bytes of a canonical (128 lowercase hex digits) string, else None.

    Only one spelling of a signature is valid, so re-casing a stored signature is tampering.
    """
    if (
        not isinstance(signature_hex, str)
        or len(signature_hex) != 128
        or any(ch not in "0123456789abcdef" for ch in signature_hex)
    ):
        return None
    return bytes.fromhex(signature_hex)


def verify_signature(sign_pk_hex: str, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid Ed25519 signature of ``message`` under the key."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(sign_pk_hex)).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
