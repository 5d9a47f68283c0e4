"""Key-share delivery: commit_SK_model = Enc(s_i || r || Sign(s_i || r)) (paper 4.2.4).

The dealer signs the share bound to the key (PK fingerprint), to the recipient's address and
to its party index, and seals the signed body to the recipient's X25519 key; the party opens
it, checks the dealer's signature, the binding and v^(Delta s_i) = v_i (docs/PROTOCOL.md,
section 1). A box cannot be replayed to another party, index or group key.
"""

from __future__ import annotations

import json
import secrets

from deepchain.canonical import canonical_json
from deepchain.crypto.identity import (
    Identity,
    IdentityError,
    PublicIdentity,
    seal,
    verify_signature,
)
from deepchain.crypto.paillier import KeyShare, ThresholdPublicKey, verify_key_share
from deepchain.crypto.serialize import CryptoFormatError, check_header

__all__ = ["KeyShareError", "open_key_share", "seal_key_share"]

_SEAL_TAG = b"deepchain/keyshare/v1\x00"


class KeyShareError(CryptoFormatError):
    """A sealed key share that is forged, misdirected, or does not match v_i."""


def seal_key_share(
    share: KeyShare, recipient: PublicIdentity, dealer: Identity, pk: ThresholdPublicKey
) -> str:
    """Dealer side: sign (share, r, pk fingerprint, recipient, index) and seal it to the
    recipient.

    The signed body binds the share to the key (pk fingerprint), to the recipient's address
    and to the recipient's party index (the share's i), so a box cannot be replayed to another
    party, another index or another group key.
    """
    body = {
        "type": "sealed_key_share",
        "version": 1,
        "share": share.to_json(),
        "r": secrets.token_hex(32),
        "pk": pk.fingerprint(),
        "recipient": recipient.sign_pk,
        "index": share.i,
    }
    msg = canonical_json(body)
    sig = dealer.sign(_SEAL_TAG + msg)
    return seal(recipient.box_pk, canonical_json({"body": body, "sig": sig.hex()}))


def open_key_share(
    box: str, me: Identity, dealer_sign_pk: str, pk: ThresholdPublicKey, index: int
) -> KeyShare:
    """Party side: open, check the dealer's signature, the binding (key, my address, my party
    ``index`` as the chain lists it: share.i must be it) and v^(Delta s_i) == v_i."""
    try:
        raw = me.open_sealed(box)
        doc = json.loads(raw)
        body, sig = doc["body"], bytes.fromhex(doc["sig"])
    except (IdentityError, ValueError, KeyError, TypeError) as exc:
        raise KeyShareError(f"sealed key share does not open ({type(exc).__name__})") from exc
    if not isinstance(body, dict) or not verify_signature(
        dealer_sign_pk, _SEAL_TAG + canonical_json(body), sig
    ):
        raise KeyShareError("sealed key share: bad dealer signature")
    check_header(body, "sealed_key_share")
    if body.get("pk") != pk.fingerprint():
        raise KeyShareError("sealed key share is for another public key")
    if body.get("recipient") != me.address:
        raise KeyShareError("sealed key share is addressed to another party")
    share = KeyShare.from_json(body.get("share"), pk)
    if body.get("index") != index or share.i != index:
        raise KeyShareError(f"sealed key share is for another party index (I am {index})")
    if not verify_key_share(pk, share):
        raise KeyShareError(f"key share {share.i} does not match v_i")
    return share
