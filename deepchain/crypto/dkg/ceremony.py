"""Running a ceremony: a relay that forwards addressed bodies round by round, and blame.

``Relay`` is the in-process stand-in for the platform: it only stores and forwards bytes per
(sender, recipient, round), counts them, and records a transcript digest; it never decodes a
body. ``run_ceremony`` drives the parties in lock step: a round ends when every party has
sent all its bodies; a party that sends nothing by the deadline is named (PartyStalled), a
party whose message fails a check is named by its recipient (InconsistentMessage), and the
ceremony then stops cleanly with that error: no party keeps a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import resource
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepchain.crypto.dkg.params import DKGParams
from deepchain.crypto.dkg.party import CeremonyError, DKGParty, InconsistentMessage, PartyStalled
from deepchain.crypto.dkg.wire import Message
from deepchain.crypto.paillier import KeyShare, ThresholdPublicKey
from deepchain.procpool import pool_context


@dataclass
class PhaseStats:
    """One phase's wall seconds, CPU seconds of all parties together (``cpu``), the critical
    path (``critical``: per round the slowest party's CPU seconds, i.e. the time with one core
    per party and no network delay) and message rounds."""

    wall: float = 0.0
    cpu: float = 0.0
    critical: float = 0.0
    rounds: int = 0


@dataclass
class Relay:
    """Stores and forwards bodies; counts bytes each party sends (self-addressed: not sent)."""

    keep: bool = False  # keep every Message (tests inspect the transcript)
    messages: list[Message] = field(default_factory=list)
    sent_bytes: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    digest: Any = field(default_factory=hashlib.sha256)  # running SHA-256

    def forward(self, msg: Message) -> bytes:
        """What the recipient gets for ``msg`` (an honest relay: the stored body itself)."""
        return msg.body

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
    transcript: dict[str, Any]  # the public outcome (see deepchain.crypto.dkg.verify)


def _cpu(p: Any) -> float:
    return float(getattr(p, "cpu_seconds", 0.0))


def _charge(p: Any, seconds: float) -> None:
    """In-process parties: the driver measures their CPU time (process parties report it)."""
    if not hasattr(p, "deliver_start"):
        p.cpu_seconds = _cpu(p) + seconds


def run_ceremony(
    parties: Sequence[DKGParty | ProcessParty],
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
    parallel = all(hasattr(p, "receive") for p in parties)
    while not all(p.done for p in parties):
        phase = parties[0].phase
        w0 = time.perf_counter()
        cpu0 = {p.i: _cpu(p) for p in parties}
        inboxes: dict[int, dict[int, bytes]] = {j: {} for j in by_index}
        for p in parties:
            c0 = time.process_time()
            out = p.outgoing()
            _charge(p, time.process_time() - c0)
            for j in by_index:
                body = out.pop(j, None)
                if body is None:
                    raise PartyStalled(
                        f"party {p.i} sent nothing in round {rounds} ({phase})",
                        party=p.i,
                        phase=phase,
                    )
                msg = Message(sender=p.i, recipient=j, round=rounds, body=body)
                relay.post(msg)
                if parallel:  # straight on to the recipient's process
                    by_index[j].receive(p.i, relay.forward(msg))
                else:
                    inboxes[j][p.i] = relay.forward(msg)
                del msg, body
            del out
        if parallel:
            for p in parties:
                p.deliver_start()
            for p in parties:
                p.deliver_wait()
        else:
            for p in parties:
                c0 = time.process_time()
                p.deliver(inboxes.pop(p.i))
                _charge(p, time.process_time() - c0)
        del inboxes
        spent = [_cpu(p) - cpu0[p.i] for p in parties]
        st = phases[phase]
        st.wall += time.perf_counter() - w0
        st.cpu += sum(spent)
        st.critical += max(spent)
        st.rounds += 1
        rounds += 1
        if on_round is not None:
            on_round(rounds, phase)
    pks = {p.result[0] for p in parties if p.result is not None}
    if len(pks) != 1:
        raise CeremonyError("parties ended with different public keys")
    pk = pks.pop()
    shares = {p.i: p.result[1] for p in parties if p.result is not None}
    transcripts = [p.transcript for p in parties]
    if any(tr != transcripts[0] for tr in transcripts):
        raise CeremonyError("parties ended with different public transcripts")
    return CeremonyResult(
        pk=pk,
        shares=shares,
        rounds=rounds,
        phases=dict(phases),
        relay=relay,
        transcript=transcripts[0],
    )


# -- one OS process per party -------------------------------------------------------------------
def _serve(conn: Any, i: int, params: DKGParams, cls: type[DKGParty]) -> None:
    """Child process: hold party i and answer the driver; only bytes and results go back."""
    party = cls(i, params)

    def status() -> tuple:
        return ("ok", party.phase, party.result, party.transcript, time.process_time())

    def attempt(fn: Callable[[], Any]) -> tuple:
        try:
            return ("ok", fn())
        except CeremonyError as exc:
            return ("error", (type(exc).__name__, str(exc), exc.party, exc.phase))

    def peak_rss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

    out: tuple | None = attempt(party.outgoing)
    inbox: dict[int, bytes] = {}
    while True:
        cmd, arg = conn.recv()
        if cmd == "out":
            conn.send((out, time.process_time()))
        elif cmd == "body":  # one sender's body for this round, kept until "deliver"
            sender, body = arg
            inbox[sender] = body
            del arg, body
        elif cmd == "deliver":
            if arg is not None:
                inbox.update(arg)
            out = arg = None  # the driver has this round's bodies: free them here
            res = attempt(lambda box=inbox: party.deliver(box, consume=True))  # pops every body
            inbox = {}
            if res[0] == "ok":
                out = attempt(party.outgoing) if not party.done else ("ok", {})
                conn.send(status() + (peak_rss(),))
            else:
                conn.send(res)
        else:
            conn.close()
            return


_ERRORS = {"InconsistentMessage": InconsistentMessage, "PartyStalled": PartyStalled}


def _raise(err: tuple) -> None:
    name, message, party, phase = err
    raise _ERRORS.get(name, CeremonyError)(message, party=party, phase=phase)


class ProcessParty:
    """A DKGParty in its own OS process: the driver sees only the bytes it sends and
    receives, as a remote party's would be; ``run_ceremony`` runs the parties in parallel.

    The child starts from a clean forkserver (never ``fork``: see ``deepchain.procpool``),
    so ``cls`` must be importable by name."""

    def __init__(self, i: int, params: DKGParams, cls: type[DKGParty] = DKGParty) -> None:
        ctx = pool_context()
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, i, params, cls), daemon=True)
        self._proc.start()
        child.close()
        self.i = i
        self.phase = "sieve"
        self.result: tuple[ThresholdPublicKey, KeyShare] | None = None
        self.cpu_seconds = 0.0  # the child's process_time: all of this party's work so far
        self.peak_rss = 0  # the child's peak resident memory, bytes (reported every round)
        self.transcript: dict[str, Any] = {}

    @property
    def done(self) -> bool:
        return self.result is not None

    def _clock(self, now: float) -> None:
        self.cpu_seconds = now

    def outgoing(self) -> dict[int, bytes]:
        self._conn.send(("out", None))
        out, now = self._conn.recv()
        self._clock(now)
        if out[0] == "error":
            _raise(out[1])
        return out[1]

    def receive(self, sender: int, body: bytes) -> None:
        """Forward one sender's body now (the child keeps it until deliver_start), so the
        driver never holds a whole round of every party's bodies."""
        self._conn.send(("body", (sender, body)))

    def deliver_start(self, inbox: dict[int, bytes] | None = None) -> None:
        """Start the round: the bodies sent by ``receive`` plus ``inbox``."""
        self._conn.send(("deliver", inbox))

    def deliver_wait(self) -> None:
        res = self._conn.recv()
        if res[0] == "error":
            _raise(res[1])
        _, self.phase, self.result, self.transcript, now, self.peak_rss = res
        self._clock(now)

    def deliver(self, inbox: dict[int, bytes]) -> None:
        self.deliver_start(inbox)
        self.deliver_wait()

    def close(self) -> None:
        """Stop the child process."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(("stop", None))
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.terminate()
