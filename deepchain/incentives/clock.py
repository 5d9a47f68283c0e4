"""Trusted time clock of a DeepChain round (paper Fig. 3, Algorithms 1-2).

A round of group ``co`` has nine deadlines T_t1..T_t9. The enum below names them after the
paper; :data:`ROUND_ORDER` is the order in which a round actually runs them::

    T1 gradient_submission -> T2 verification -> T3 upload    (Trading, Algorithm 3)
    T7 update -> T8 verify_aggregate -> T9 append              (Processing, Algorithm 2)
    T4 download -> T5 decryption_share -> T6 return            (decryption, Algorithm 4)

The Processing contract aggregates the uploaded gradients (T7-T9) before the parties can
download the aggregate (T4) and post their decryption shares (T5). Each deadline is the start
time plus the cumulative durations of the phases up to it (:class:`Deadlines`).

updateTime() (Algorithm 1): when phase k is closed late, at ``closed_at > T_tk``, every later
deadline is pushed back by the overrun: T'_tl = T_tl + |closed_at - T_tk| for l after k.
An early close does not pull later deadlines forward (the parties were promised their windows).
Closing a phase that is already closed is a no-op (idempotent), so a beat task run twice closes
the phase once.

All times are integer milliseconds since the Unix epoch (or any fixed origin, in tests).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from deepchain.canonical import canonical_json

__all__ = [
    "ROUND_ORDER",
    "Clock",
    "ContractError",
    "Deadlines",
    "LateError",
    "ManualClock",
    "Phase",
    "RoundSchedule",
    "SystemClock",
]


class Phase(StrEnum):
    """The nine timed phases of a round; T1..T9 are the paper's T_t1..T_t9."""

    T1 = "gradient_submission"
    T2 = "verification"
    T3 = "upload"
    T4 = "download"
    T5 = "decryption_share"
    T6 = "return"
    T7 = "update"
    T8 = "verify_aggregate"
    T9 = "append"


#: The order a round runs its phases in (Trading, then Processing, then decryption).
ROUND_ORDER: tuple[Phase, ...] = (
    Phase.T1,
    Phase.T2,
    Phase.T3,
    Phase.T7,
    Phase.T8,
    Phase.T9,
    Phase.T4,
    Phase.T5,
    Phase.T6,
)
_POS = {p: i for i, p in enumerate(ROUND_ORDER)}


class ContractError(Exception):
    """A message or action the contract refuses (unknown party, double submission, ...)."""


class LateError(ContractError):
    """A message arrived after its phase's deadline T_tk (the sender is at fault)."""

    def __init__(self, phase: Phase, deadline_ms: int, at_ms: int) -> None:
        self.phase = Phase(phase)
        self.deadline_ms = deadline_ms
        self.at_ms = at_ms
        self.late_by_ms = at_ms - deadline_ms
        super().__init__(
            f"{self.phase.value}: late by {self.late_by_ms} ms "
            f"(deadline {deadline_ms}, received {at_ms})"
        )


class Clock(Protocol):
    """Source of the trusted time: integer milliseconds."""

    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time (``time.time_ns() // 10**6``)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to: for tests and simulations."""

    def __init__(self, now_ms: int = 0) -> None:
        self._now = int(now_ms)

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` >= 0 milliseconds; returns the new time."""
        if ms < 0:
            raise ValueError("a clock does not go backwards")
        self._now += int(ms)
        return self._now

    def set(self, ms: int) -> int:
        """Jump to ``ms`` (not earlier than now); returns the new time."""
        if ms < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = int(ms)
        return self._now


_DEFAULT_MS: dict[Phase, int] = {
    Phase.T1: 120_000,  # local training happens before; this is the submission window
    Phase.T2: 60_000,
    Phase.T3: 30_000,
    Phase.T7: 60_000,
    Phase.T8: 60_000,
    Phase.T9: 30_000,
    Phase.T4: 30_000,
    Phase.T5: 60_000,
    Phase.T6: 30_000,
}


def _default_durations() -> dict[Phase, int]:
    return dict(_DEFAULT_MS)


@dataclass(frozen=True)
class Deadlines:
    """Per-group phase durations in ms (configurable; every phase must be > 0)."""

    durations_ms: dict[Phase, int] = field(default_factory=_default_durations)

    def __post_init__(self) -> None:
        d = {Phase(k): int(v) for k, v in self.durations_ms.items()}
        missing = [p.value for p in ROUND_ORDER if p not in d]
        if missing:
            raise ValueError(f"durations missing for {missing}")
        if any(v <= 0 for v in d.values()):
            raise ValueError("every phase duration must be positive")
        object.__setattr__(self, "durations_ms", d)

    @classmethod
    def default(cls, **overrides: int) -> Deadlines:
        """Defaults, with overrides by phase name (``Deadlines.default(T1=5000)``)."""
        d = _default_durations()
        for name, ms in overrides.items():
            d[Phase[name]] = ms
        return cls(d)

    @classmethod
    def uniform(cls, ms: int) -> Deadlines:
        """Every phase lasts ``ms``."""
        return cls({p: ms for p in ROUND_ORDER})

    def schedule(self, start_ms: int, *, group: str = "", round_no: int = 0) -> RoundSchedule:
        """The deadlines T_t1..T_t9 of a round starting at ``start_ms``."""
        return RoundSchedule.start(start_ms, self, group=group, round_no=round_no)

    def to_dict(self) -> dict[str, int]:
        return {p.value: self.durations_ms[p] for p in ROUND_ORDER}

    def to_json(self) -> str:
        return canonical_json(self.to_dict()).decode()

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Deadlines:
        obj = json.loads(data) if isinstance(data, str | bytes) else data
        return cls({Phase(k): int(v) for k, v in obj.items()})


@dataclass(frozen=True)
class RoundSchedule:
    """Deadlines of one round and which phases are closed (immutable; updates return copies).

    ``deadlines_ms[p]`` is the current (possibly extended) T_tk of phase p; ``closed_ms[p]``
    the time phase p was closed at, for closed phases only.
    """

    start_ms: int
    deadlines_ms: dict[Phase, int]
    closed_ms: dict[Phase, int] = field(default_factory=dict)
    group: str = ""
    round_no: int = 0

    def __post_init__(self) -> None:
        dl = {Phase(k): int(v) for k, v in self.deadlines_ms.items()}
        cl = {Phase(k): int(v) for k, v in self.closed_ms.items()}
        assert set(dl) == set(ROUND_ORDER), "a schedule has all nine deadlines"
        prev = self.start_ms
        for p in ROUND_ORDER:
            assert dl[p] > prev, "deadlines increase along the round order"
            prev = dl[p]
        closed_flags = [p in cl for p in ROUND_ORDER]
        assert closed_flags == sorted(closed_flags, reverse=True), "phases close in order"
        object.__setattr__(self, "deadlines_ms", dl)
        object.__setattr__(self, "closed_ms", cl)

    @classmethod
    def start(
        cls,
        start_ms: int,
        deadlines: Deadlines | None = None,
        *,
        group: str = "",
        round_no: int = 0,
    ) -> RoundSchedule:
        """T_tk = start + sum of the durations of the phases up to and including k."""
        deadlines = deadlines or Deadlines()
        t = int(start_ms)
        dl: dict[Phase, int] = {}
        for p in ROUND_ORDER:
            t += deadlines.durations_ms[p]
            dl[p] = t
        return cls(int(start_ms), dl, {}, group, round_no)

    # -- queries -----------------------------------------------------------------------------

    def deadline(self, phase: Phase) -> int:
        """T_tk of ``phase`` (after any updateTime() extensions)."""
        return self.deadlines_ms[Phase(phase)]

    def opens_at(self, phase: Phase) -> int:
        """When ``phase`` opens: the previous phase's close time (or deadline), or the start."""
        i = _POS[Phase(phase)]
        if i == 0:
            return self.start_ms
        prev = ROUND_ORDER[i - 1]
        return self.closed_ms.get(prev, self.deadlines_ms[prev])

    def is_closed(self, phase: Phase) -> bool:
        return Phase(phase) in self.closed_ms

    def closed_at(self, phase: Phase) -> int | None:
        return self.closed_ms.get(Phase(phase))

    def current_phase(self, now_ms: int) -> Phase | None:
        """The first phase (in round order) not yet closed; None before start or when done.

        A phase past its deadline stays current until it is closed (see :meth:`overdue`).
        """
        if now_ms < self.start_ms:
            return None
        for p in ROUND_ORDER:
            if p not in self.closed_ms:
                return p
        return None

    def overdue(self, now_ms: int) -> list[Phase]:
        """Phases not closed whose deadline has passed, in round order (what a beat must close).

        Only the first one is certain: closing it late extends the later deadlines.
        """
        return [p for p in ROUND_ORDER if p not in self.closed_ms and now_ms > self.deadline(p)]

    def is_open(self, phase: Phase, now_ms: int) -> bool:
        """True when ``phase`` accepts messages: not closed, opened, and not past T_tk."""
        phase = Phase(phase)
        return phase not in self.closed_ms and self.opens_at(phase) <= now_ms <= self.deadline(
            phase
        )

    def check_on_time(self, phase: Phase, now_ms: int) -> None:
        """Raise :class:`LateError` if ``now_ms`` is after T_tk (the deadline itself is on time).

        This is the check every state change makes itself, so a late message is refused even
        when the task that closes the phase is behind.
        """
        dl = self.deadline(phase)
        if now_ms > dl:
            raise LateError(Phase(phase), dl, now_ms)

    def time_left_ms(self, phase: Phase, now_ms: int) -> int:
        """Milliseconds until T_tk, never negative (0 once the deadline has passed)."""
        return max(0, self.deadline(phase) - now_ms)

    # -- updateTime() ------------------------------------------------------------------------

    def close_phase(self, phase: Phase, closed_at_ms: int) -> RoundSchedule | None:
        """Close ``phase`` at ``closed_at_ms``; the paper's updateTime() (Algorithm 1).

        Returns the new schedule, or None if the phase was already closed (idempotent no-op).
        A late close (after T_tk) extends every later deadline by the overrun; an early close
        (allowed, e.g. when every party has already submitted) leaves them unchanged. Phases
        close in round order: closing one whose predecessor is open raises ContractError.
        """
        phase = Phase(phase)
        if phase in self.closed_ms:
            return None
        i = _POS[phase]
        if i > 0 and ROUND_ORDER[i - 1] not in self.closed_ms:
            raise ContractError(
                f"cannot close {phase.value} before {ROUND_ORDER[i - 1].value} is closed"
            )
        if closed_at_ms < self.opens_at(phase):
            raise ContractError(f"{phase.value} cannot close before it opens")
        overrun = max(0, closed_at_ms - self.deadline(phase))
        dl = dict(self.deadlines_ms)
        for p in ROUND_ORDER[i + 1 :]:
            dl[p] += overrun  # T'_tl = T_tl + |overrun|
        cl = dict(self.closed_ms)
        cl[phase] = int(closed_at_ms)
        return RoundSchedule(self.start_ms, dl, cl, self.group, self.round_no)

    # -- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "round": self.round_no,
            "start_ms": self.start_ms,
            "deadlines_ms": {p.value: self.deadlines_ms[p] for p in ROUND_ORDER},
            "closed_ms": {p.value: t for p, t in self.closed_ms.items()},
        }

    def to_json(self) -> str:
        return canonical_json(self.to_dict()).decode()

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> RoundSchedule:
        obj = json.loads(data) if isinstance(data, str | bytes) else data
        return cls(
            start_ms=int(obj["start_ms"]),
            deadlines_ms={Phase(k): int(v) for k, v in obj["deadlines_ms"].items()},
            closed_ms={Phase(k): int(v) for k, v in obj.get("closed_ms", {}).items()},
            group=str(obj.get("group", "")),
            round_no=int(obj.get("round", 0)),
        )
