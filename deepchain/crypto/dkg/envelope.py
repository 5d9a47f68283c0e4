"""Ceremony messages sealed to their recipient and signed by their sender: what the platform
relays. The platform stores and forwards ciphertext only.

An envelope is  u32 len(header) || header || Ed25519 signature || box  where
header = canonical JSON (ceremony id, round, sender index, recipient index, sender and
recipient addresses), box = seal(recipient's X25519 key, body signature || body), and the
outer signature covers the tag, the header and SHA-256(box). The body signature (inside the
box, so only the recipient sees it) covers another tag, the header and SHA-256(body): with it
the recipient can later show anyone the body the sender sent it (``check_evidence``), so an
inconsistent message is provably the sender's. Anyone holding the roster, the relay included,
can check an envelope's header and signature without reading the body (``check_envelope``): an
honest platform refuses a mis-addressed or unsigned post at once, naming the poster. The recipient
checks again that the header names this ceremony, this round, the expected sender and itself,
and that the box opens: a relay cannot read, alter, replay (another round or ceremony) or
redirect a message unnoticed. A failure at delivery is not attributable to the sender (a
relay can cause it), so it raises RelayTampering, naming no party.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from typing import Any

from deepchain.canonical import canonical_json
from deepchain.crypto.dkg.party import CeremonyError, DKGParty
from deepchain.crypto.identity import (
    Identity,
    IdentityError,
    PublicIdentity,
    seal,
    verify_signature,
)

_TAG = b"deepchain/dkg/message/v1\x00"
_BODY_TAG = b"deepchain/dkg/message-body/v1\x00"


class RelayTampering(CeremonyError):
    """An envelope did not open, was not signed by its sender, or was for another ceremony,
    round or recipient when delivered: the relay (or the network) is at fault."""


class EnvelopeError(ValueError):
    """An envelope that is malformed or whose signature does not verify (check_envelope)."""


def _signed(header: bytes, box: bytes, tag: bytes = _TAG) -> bytes:
    return tag + struct.pack(">I", len(header)) + header + hashlib.sha256(box).digest()


def envelope_header(envelope: bytes) -> bytes:
    """The canonical header bytes of an envelope (no check; see ``check_envelope``)."""
    (hlen,) = struct.unpack(">I", envelope[:4])
    return envelope[4 : 4 + hlen]


def seal_message(
    ceremony: str,
    round_no: int,
    sender: int,
    recipient: int,
    body: bytes,
    me: Identity,
    to: PublicIdentity,
) -> bytes:
    """Seal ``body`` for ``to`` and sign the header and box: the envelope the relay stores."""
    header = canonical_json(
        {
            "ceremony": ceremony,
            "round": round_no,
            "sender": sender,
            "recipient": recipient,
            "from": me.address,
            "to": to.sign_pk,
        }
    )
    box = seal(to.box_pk, me.sign(_signed(header, body, _BODY_TAG)) + body).encode()
    return struct.pack(">I", len(header)) + header + me.sign(_signed(header, box)) + box


def check_envelope(envelope: bytes, roster: Mapping[int, PublicIdentity]) -> dict[str, Any]:
    """The header of a well-formed envelope signed by the roster's key for its sender, with
    the recipient's address matching the roster; raises EnvelopeError otherwise. Reads no
    secret: this is the relay's check at post time."""
    try:
        (hlen,) = struct.unpack(">I", envelope[:4])
        header, sig, box = (
            envelope[4 : 4 + hlen],
            envelope[4 + hlen : 68 + hlen],
            envelope[68 + hlen :],
        )
        doc = json.loads(header)
        sender, recipient = int(doc["sender"]), int(doc["recipient"])
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError("malformed ceremony envelope") from exc
    if not isinstance(doc, dict) or canonical_json(doc) != header:
        raise EnvelopeError("the envelope header is not canonical")
    if sender not in roster or recipient not in roster:
        raise EnvelopeError("the envelope names a party outside the roster")
    if doc.get("from") != roster[sender].sign_pk or doc.get("to") != roster[recipient].sign_pk:
        raise EnvelopeError("the envelope's addresses are not the roster's")
    if len(sig) != 64 or not verify_signature(roster[sender].sign_pk, _signed(header, box), sig):
        raise EnvelopeError("the envelope is not signed by its sender")
    return doc


def open_message(
    envelope: bytes,
    ceremony: str,
    round_no: int,
    sender: int,
    me: Identity,
    my_index: int,
    roster: Mapping[int, PublicIdentity],
) -> bytes:
    """The body of an envelope from ``sender`` to this party for this round; RelayTampering
    if it is anything else or does not open."""
    return open_signed(envelope, ceremony, round_no, sender, me, my_index, roster)[0]


def open_signed(
    envelope: bytes,
    ceremony: str,
    round_no: int,
    sender: int,
    me: Identity,
    my_index: int,
    roster: Mapping[int, PublicIdentity],
) -> tuple[bytes, bytes]:
    """(body, the sender's body signature) of an envelope, checked as ``open_message``."""
    try:
        doc = check_envelope(envelope, roster)
    except EnvelopeError as exc:
        raise RelayTampering(f"party {my_index} got a bad envelope: {exc}") from exc
    want = {"ceremony": ceremony, "round": round_no, "sender": sender, "recipient": my_index}
    if any(doc.get(k) != v for k, v in want.items()):
        raise RelayTampering(
            f"party {my_index} got an envelope for another ceremony, round or recipient"
        )
    (hlen,) = struct.unpack(">I", envelope[:4])
    try:
        inner = me.open_sealed(envelope[68 + hlen :].decode("ascii"))
    except (IdentityError, UnicodeDecodeError) as exc:
        raise RelayTampering(f"an envelope for party {my_index} does not open") from exc
    sig, body = inner[:64], inner[64:]
    if not check_evidence(envelope, body, sig, roster):
        raise RelayTampering(f"an envelope for party {my_index} has no valid body signature")
    return body, sig


def check_evidence(
    envelope: bytes, body: bytes, body_sig: bytes, roster: Mapping[int, PublicIdentity]
) -> bool:
    """True iff ``body`` is what the envelope's sender signed for this envelope's header:
    what the relay checks when a recipient reveals a body to accuse its sender."""
    try:
        doc = check_envelope(envelope, roster)
    except EnvelopeError:
        return False
    header = envelope_header(envelope)
    key = roster[int(doc["sender"])].sign_pk
    return len(body_sig) == 64 and verify_signature(key, _signed(header, body, _BODY_TAG), body_sig)


class SealedParty:
    """A party whose messages travel sealed and signed: wraps a DKGParty for run_ceremony."""

    def __init__(
        self, party: DKGParty, me: Identity, roster: Mapping[int, PublicIdentity], ceremony: str
    ) -> None:
        if roster[party.i].sign_pk != me.address:
            raise ValueError("the roster's entry for this party is not its identity")
        self.party = party
        self.i = party.i
        self._me = me
        self._roster = dict(roster)
        self._ceremony = ceremony
        self._round = 0

    @property
    def phase(self) -> str:
        return self.party.phase

    @property
    def done(self) -> bool:
        return self.party.done

    @property
    def result(self) -> Any:
        return self.party.result

    @property
    def transcript(self) -> dict[str, Any]:
        return self.party.transcript

    def outgoing(self) -> dict[int, bytes]:
        out = self.party.outgoing()
        return {
            j: seal_message(self._ceremony, self._round, self.i, j, body, self._me, self._roster[j])
            for j, body in out.items()
        }

    def deliver(self, inbox: Mapping[int, bytes]) -> None:
        opened = {
            j: open_message(env, self._ceremony, self._round, j, self._me, self.i, self._roster)
            for j, env in inbox.items()
        }
        self._round += 1
        self.party.deliver(opened)
