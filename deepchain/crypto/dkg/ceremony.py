"""Running a ceremony: a relay that forwards addressed bodies round by round, and blame.

``Relay`` is the in-process stand-in for the platform: it only stores and forwards bytes per
(sender, recipient, round), counts them, and records a transcript digest; it never decodes a
body. ``run_ceremony`` drives the parties in lock step: a round ends when every party has
sent all its bodies; a party that sends nothing by the deadline is named (PartyStalled), a
party whose message fails a check is named by its recipient (InconsistentMessage), and the
ceremony then stops cleanly with that error: no party keeps a key.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepchain.crypto.dkg.party import CeremonyError, DKGParty, PartyStalled
from deepchain.crypto.dkg.wire import Message
from deepchain.crypto.paillier import KeyShare, ThresholdPublicKey


@dataclass
class PhaseStats:
    """Wall and CPU seconds and message rounds spent in one phase (all parties together)."""

    wall: float = 0.0
    cpu: float = 0.0
    rounds: int = 0


@dataclass
class Relay:
    """Stores and forwards bodies; counts bytes each party sends (self-addressed: not sent)."""

    keep: bool = False  # keep every Message (tests inspect the transcript)
    messages: list[Message] = field(default_factory=list)
    sent_bytes: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    digest: Any = field(default_factory=hashlib.sha256)  # running SHA-256

    def post(self, msg: Message) -> None:
        if msg.sender != msg.recipient:
            self.sent_bytes[msg.sender] += len(msg.body)
        h = hashlib.sha256(msg.body).digest()
        self.digest.update(
            msg.sender.to_bytes(4, "big")
            + msg.recipient.to_bytes(4, "big")
            + msg.round.to_bytes(4, "big")
            + h
        )
        if self.keep:
            self.messages.append(msg)

    def transcript_hash(self) -> str:
        """SHA-256 chain over (sender, recipient, round, SHA-256(body)) of every message."""
        return self.digest.copy().hexdigest()


@dataclass
class CeremonyResult:
    pk: ThresholdPublicKey
    shares: dict[int, KeyShare]
    rounds: int
    phases: dict[str, PhaseStats]
    relay: Relay


def run_ceremony(
    parties: Sequence[DKGParty],
    relay: Relay | None = None,
    on_round: Callable[[int, str], None] | None = None,
) -> CeremonyResult:
    """Drive ``parties`` (indices 1..N) to the end; raises CeremonyError naming the culprit.

    A party's ``outgoing()`` returning nothing for a recipient is a stall. Every party must
    end with the same public key (checked: a split outcome is an error, not attributable).
    """
    relay = relay if relay is not None else Relay()
    N = len(parties)
    by_index = {p.i: p for p in parties}
    if sorted(by_index) != list(range(1, N + 1)):
        raise ValueError("parties must have indices 1..N")
    phases: dict[str, PhaseStats] = defaultdict(PhaseStats)
    rounds = 0
    while not all(p.done for p in parties):
        phase = parties[0].phase
        w0, c0 = time.perf_counter(), time.process_time()
        inboxes: dict[int, dict[int, bytes]] = {j: {} for j in by_index}
        for p in parties:
            out = p.outgoing()
            for j in by_index:
                body = out.get(j)
                if body is None:
                    raise PartyStalled(
                        f"party {p.i} sent nothing in round {rounds} ({phase})",
                        party=p.i,
                        phase=phase,
                    )
                msg = Message(sender=p.i, recipient=j, round=rounds, body=body)
                relay.post(msg)
                inboxes[j][p.i] = msg.body
        for p in parties:
            p.deliver(inboxes[p.i])
        del inboxes
        st = phases[phase]
        st.wall += time.perf_counter() - w0
        st.cpu += time.process_time() - c0
        st.rounds += 1
        rounds += 1
        if on_round is not None:
            on_round(rounds, phase)
    pks = {p.result[0] for p in parties if p.result is not None}
    if len(pks) != 1:
        raise CeremonyError("parties ended with different public keys")
    pk = pks.pop()
    shares = {p.i: p.result[1] for p in parties if p.result is not None}
    return CeremonyResult(pk=pk, shares=shares, rounds=rounds, phases=dict(phases), relay=relay)
