"""The ceremony over sealed, signed messages (the relay sees ciphertext only; a tampering
relay is caught), and the public checks anyone runs on a dealerless key."""

from __future__ import annotations

import base64
import dataclasses
import random

import pytest

from deepchain.canonical import canonical_json
from deepchain.crypto.dkg import DKGParams, DKGParty, Relay, run_ceremony
from deepchain.crypto.dkg.envelope import (
    EnvelopeError,
    RelayTampering,
    SealedParty,
    check_envelope,
)
from deepchain.crypto.dkg.verify import verify_public_key
from deepchain.crypto.dkg.wire import Message, decode
from deepchain.crypto.identity import Identity
from deepchain.crypto.serialize import CryptoFormatError

PARAMS = DKGParams(256, 4, 3)


def _sealed(seed: int, ceremony: str = "group-7/key") -> list[SealedParty]:
    ids = {i: Identity.from_seed(bytes([seed, i]) * 16) for i in range(1, 5)}
    roster = {i: ids[i].public for i in ids}
    return [
        SealedParty(DKGParty(i, PARAMS, rng=random.Random(seed * 10 + i)), ids[i], roster, ceremony)
        for i in range(1, 5)
    ]


@pytest.fixture(scope="module")
def sealed_run():
    relay = Relay(keep=True)
    return run_ceremony(_sealed(1), relay=relay), relay


def test_the_relay_stores_only_ciphertext_and_the_key_passes_the_public_checks(sealed_run):
    result, relay = sealed_run
    assert relay.messages
    roster = {p.i: p._roster[p.i] for p in _sealed(1)}
    for m in relay.messages:
        head = check_envelope(m.body, roster)  # what the relay can read: the header only
        assert set(head) == {"ceremony", "round", "sender", "recipient", "from", "to"}
        box = m.body[4 + len(canonical_json(head)) + 64 :]
        for part in (m.body, box, base64.b64decode(box)):
            with pytest.raises(CryptoFormatError):
                decode(part)  # not a readable ceremony body
    assert verify_public_key(result.pk, result.transcript, 256)


class TamperingRelay(Relay):
    """Flips one character of the first box it forwards in ``round_no``."""

    def __init__(self, round_no: int) -> None:
        super().__init__()
        self.round_no, self.done = round_no, False

    def forward(self, msg: Message) -> bytes:
        if msg.round == self.round_no and msg.sender != msg.recipient and not self.done:
            self.done = True
            b = bytearray(msg.body)
            b[-40] = ord("A") if b[-40] != ord("A") else ord("B")  # inside the sealed box
            return bytes(b)
        return msg.body


class ReplayingRelay(Relay):
    """Delivers party 1's round-0 box to party 2 again in round 1."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: bytes | None = None

    def forward(self, msg: Message) -> bytes:
        if (msg.round, msg.sender, msg.recipient) == (0, 1, 2):
            self.saved = msg.body
        if (msg.round, msg.sender, msg.recipient) == (1, 1, 2):
            return self.saved
        return msg.body


class RedirectingRelay(Relay):
    """Gives party 3 the box party 1 sealed to party 2."""

    def __init__(self) -> None:
        super().__init__()
        self.box: bytes | None = None

    def forward(self, msg: Message) -> bytes:
        if (msg.round, msg.sender, msg.recipient) == (0, 1, 2):
            self.box = msg.body
        if (msg.round, msg.sender, msg.recipient) == (0, 1, 3):
            return self.box
        return msg.body


@pytest.mark.parametrize("relay", [TamperingRelay(2), ReplayingRelay(), RedirectingRelay()])
def test_a_relay_that_alters_replays_or_redirects_a_message_is_caught(relay):
    parties = _sealed(2)
    with pytest.raises(RelayTampering) as err:
        run_ceremony(parties, relay=relay)
    assert err.value.party is None  # the relay, not a party, is at fault
    assert all(p.result is None for p in parties)


def test_a_message_signed_for_another_ceremony_is_refused_and_the_relay_can_name_its_poster():
    a, b = _sealed(3, "group-1/key"), _sealed(3, "group-2/key")
    mixed = [b[0], b[1], b[2], a[3]]  # party 4 signs for another ceremony
    relay = Relay(keep=True)
    with pytest.raises(RelayTampering):
        run_ceremony(mixed, relay=relay)
    roster = {p.i: p._roster[p.i] for p in b}
    heads = [check_envelope(m.body, roster) for m in relay.messages]
    assert {h["ceremony"] for h in heads if h["sender"] == 4} == {"group-1/key"}
    forged = bytearray(relay.messages[1].body)
    forged[-3] ^= 1  # the box no longer matches the signature
    with pytest.raises(EnvelopeError):
        check_envelope(bytes(forged), roster)


def _tampered(result, **changes):
    tr = dict(result.transcript)
    tr.update(changes)
    return tr


def test_public_checks_refuse_a_wrong_verification_key(sealed_run):
    result, _ = sealed_run
    pk = result.pk
    bad_v = list(pk.v_i)
    bad_v[1] = bad_v[1] * bad_v[1] % pk.n2
    assert not verify_public_key(dataclasses.replace(pk, v_i=tuple(bad_v)), result.transcript, 256)


def test_public_checks_refuse_a_changed_commitment_a_bad_test_share_or_another_size(sealed_run):
    result, _ = sealed_run
    pk, tr = result.pk, result.transcript
    C = [list(row) for row in tr["commitments"]]
    C[0][1] = C[0][1] * 4 % pk.n2
    assert not verify_public_key(pk, _tampered(result, commitments=C), 256)
    shares = list(tr["test_shares"])
    shares[2] = shares[2] * 4 % pk.n2
    assert not verify_public_key(pk, _tampered(result, test_shares=shares), 256)
    assert not verify_public_key(pk, tr, 258)
    assert not verify_public_key(dataclasses.replace(pk, v=pk.v * pk.v % pk.n2), tr, 256)
    assert not verify_public_key(pk, _tampered(result, commitments=None), 256)
