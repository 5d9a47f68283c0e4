"""DeepChain's contracts as pure state machines (paper Algorithms 2-4).

Nothing here moves money or touches a database: every money move is *returned* as a
:class:`Transfer` (source, destination, amount, reason, party) for the caller to perform
atomically, e.g. a Django service that locks both wallet rows and writes a ledger entry and a
chain transaction per transfer. Every method takes the trusted time ``at_ms`` explicitly and
checks the round's deadline itself (:meth:`RoundSchedule.check_on_time`), so a late message is
refused even when the task that closes the phase runs behind.

Accounts (plain strings, named in ``incentives.money``):
- a party's or worker's address (its wallet);
- ``escrow:{group}`` (:func:`escrow_account`): per-message deposits d while a phase is open;
- ``stake:{group}`` (:func:`stake_account`): the group-level stake each party posts when it
  joins (:func:`stake_transfers`), returned when it leaves (:func:`stake_return_transfers`);
- ``pool:{group}`` (:func:`pool_account`): penalties, paid out as extra pay.

Payback / extra pay / penalty rule (F*_GradientCollecting, F*_CollaborativeDecryption):
- *honest* (message on time, proof verified): deposit d paid back (escrow -> party);
- *cheater* (proof failed): deposit d forfeited (escrow -> pool), reason ``penalty:invalid_proof``;
- *late* (message after T_tk, refused) and *absent* (nothing sent): their message carried no
  deposit, so they forfeit d from their group stake instead (stake -> pool, at most what is
  left of their stake), reason ``penalty:late`` / ``penalty:absent``;
- *refused* (Decryption only: the party's signed DECRYPTION_REFUSAL of an aggregate it could
  not verify, on time): no deposit was taken and nothing is forfeited or paid; refusing an
  unverifiable aggregate is what an honest party must do, so it costs it nothing;
- the pool (this phase's penalties plus any ``pool_carry`` from earlier) is split among the
  honest parties as extra pay, equally or by contribution weights, with an exact integer split
  (largest remainder, ties by address) so that the sum is exact. With no honest party (or
  zero total weight) nothing is paid out and the pool keeps the money (``pool_retained``):
  nobody gains from a round in which nobody contributed (paper Fig. 2).

A settlement conserves money exactly: escrow in == escrow out, and pool in + carry == pool out
+ retained. Settling twice returns an empty settlement (idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from deepchain.canonical import canonical_json
from deepchain.incentives.clock import ContractError, LateError, Phase, RoundSchedule
from deepchain.incentives.money import (
    Reason,
    Transfer,
    escrow_account,
    pool_account,
    stake_account,
    transfers_of,
)
from deepchain.incentives.payoff import split_reward

__all__ = [
    "ContractError",
    "DecryptionContract",
    "LateError",
    "Receipt",
    "Settlement",
    "TradingContract",
]


@dataclass(frozen=True)
class Receipt:
    """What a contract accepted: the message's party, time, proof verdict and its deposit."""

    group: str
    phase: Phase
    party: str
    at_ms: int
    proof_ok: bool | None  # None: verification pending (record it with .verify())
    transfers: tuple[Transfer, ...]


@dataclass(frozen=True)
class Settlement:
    """The money moves that close a phase, and who was honest or penalised (and why).

    ``transfers`` are ordered paybacks, then penalties, then extra pay: applied in this
    order no account ever goes negative (extra pay is funded by the penalties before it).
    """

    group: str
    phase: Phase
    transfers: tuple[Transfer, ...] = ()
    honest: tuple[str, ...] = ()
    penalised: dict[str, str] = field(default_factory=dict)  # party -> reason
    extra_pay: dict[str, int] = field(default_factory=dict)
    pool_retained: int = 0  # penalties (and carry) left in the pool: nobody honest to pay
    decryptable: bool | None = None  # DecryptionContract: >= t valid shares arrived
    repeat: bool = False  # True for a second close(): nothing moves

    def total_in(self, account: str) -> int:
        """Sum of the amounts this settlement moves into ``account``."""
        return sum(t.amount for t in self.transfers if t.destination == account)

    def total_out(self, account: str) -> int:
        """Sum of the amounts this settlement moves out of ``account``."""
        return sum(t.amount for t in self.transfers if t.source == account)

    def net(self, account: str) -> int:
        """Net change of ``account``'s balance."""
        return self.total_in(account) - self.total_out(account)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "phase": self.phase.value,
            "transfers": [t.to_dict() for t in self.transfers],
            "honest": list(self.honest),
            "penalised": dict(self.penalised),
            "extra_pay": dict(self.extra_pay),
            "pool_retained": self.pool_retained,
            "decryptable": self.decryptable,
            "repeat": self.repeat,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Settlement:
        return cls(
            group=d["group"],
            phase=Phase(d["phase"]),
            transfers=tuple(Transfer.from_dict(t) for t in d["transfers"]),
            honest=tuple(d["honest"]),
            penalised=dict(d["penalised"]),
            extra_pay={k: int(v) for k, v in d["extra_pay"].items()},
            pool_retained=int(d["pool_retained"]),
            decryptable=d.get("decryptable"),
            repeat=bool(d.get("repeat", False)),
        )


# --- deposit contracts (Algorithms 3 and 4) ---------------------------------------------------
class _DepositPhaseContract:
    """Deposit-with-message contract of one phase (shared by Trading and Decryption)."""

    PHASE: ClassVar[Phase]
    KIND: ClassVar[str]

    def __init__(
        self,
        group: str,
        parties: Sequence[str],
        deposit: int,
        schedule: RoundSchedule,
        *,
        stakes: Mapping[str, int] | None = None,
    ) -> None:
        if len(set(parties)) != len(parties) or not parties:
            raise ValueError("parties must be a non-empty list of distinct addresses")
        if deposit < 0:
            raise ValueError("deposit d must be >= 0")
        self.group = group
        self.parties: tuple[str, ...] = tuple(parties)
        self.deposit = int(deposit)
        #: current round schedule; the driver replaces it after updateTime() extensions
        self.schedule = schedule
        #: group stake still held for each party (late / absent penalties come from it)
        self.stakes: dict[str, int] = {p: int((stakes or {}).get(p, 0)) for p in self.parties}
        self.submissions: dict[str, tuple[int, bool | None]] = {}  # party -> (at_ms, proof_ok)
        self.late: dict[str, int] = {}  # party -> at_ms of the refused late message
        #: party -> at_ms of its on-time refusal to decrypt (DecryptionContract.refuse)
        self.refused: dict[str, int] = {}
        self.settlement: Settlement | None = None

    # -- accounts ------------------------------------------------------------------------------
    @property
    def escrow(self) -> str:
        return escrow_account(self.group)

    @property
    def pool(self) -> str:
        return pool_account(self.group)

    @property
    def stake(self) -> str:
        return stake_account(self.group)

    @property
    def closed(self) -> bool:
        return self.settlement is not None

    # -- messages ------------------------------------------------------------------------------
    def _on_time_or_late(self, party: str, at_ms: int) -> None:
        """Raise LateError after the phase's deadline, recording the party late first (the
        fault is penalised at settlement)."""
        try:
            self.schedule.check_on_time(self.PHASE, at_ms)
        except LateError:
            self.late.setdefault(party, at_ms)
            raise

    def _submit(self, party: str, at_ms: int, proof_ok: bool | None) -> Receipt:
        if party not in self.stakes:
            raise ContractError(f"{party} is not a party of group {self.group}")
        if self.closed:
            raise ContractError(f"{self.PHASE.value} of group {self.group} is closed")
        if party in self.submissions:
            raise ContractError(f"{party} already submitted in {self.PHASE.value}")
        if party in self.late:
            raise ContractError(f"{party} was already refused as late in {self.PHASE.value}")
        if party in self.refused:
            raise ContractError(f"{party} refused to take part in {self.PHASE.value}")
        self._on_time_or_late(party, at_ms)
        if at_ms < self.schedule.opens_at(self.PHASE):
            raise ContractError(f"{self.PHASE.value} is not open yet")
        self.submissions[party] = (at_ms, proof_ok)
        return Receipt(
            self.group,
            self.PHASE,
            party,
            at_ms,
            proof_ok,
            tuple(transfers_of(party, self.escrow, self.deposit, Reason.DEPOSIT, party)),
        )

    def verify(self, party: str, proof_ok: bool, at_ms: int | None = None) -> None:
        """Record a pending verification (fsver) result for ``party``'s accepted message.

        With ``at_ms``, the verdict must come before the verification deadline T_t2 (Trading)
        or T_t6 (Decryption); verification is the verifiers' job, not the party's, so a late
        verdict is refused with LateError but does not penalise the party.
        """
        if self.closed:
            raise ContractError("contract already settled")
        if party not in self.submissions:
            raise ContractError(f"{party} has no submission to verify")
        t, old = self.submissions[party]
        if old is not None:
            raise ContractError(f"{party}'s message is already verified")
        if at_ms is not None:
            self.schedule.check_on_time(self.verify_phase, at_ms)
        self.submissions[party] = (t, bool(proof_ok))

    verify_phase: ClassVar[Phase]

    @property
    def pending(self) -> tuple[str, ...]:
        """Parties whose message awaits verification."""
        return tuple(
            p for p in self.parties if p in self.submissions and self.submissions[p][1] is None
        )

    @property
    def honest(self) -> tuple[str, ...]:
        """Parties whose message arrived on time with a verified proof, in group order."""
        return tuple(p for p in self.parties if self.submissions.get(p, (0, None))[1] is True)

    def status(self, party: str) -> str:
        """'honest', 'invalid_proof', 'pending', 'late', 'refused', 'absent' (or 'waiting')."""
        if party in self.refused:
            return "refused"
        if party in self.submissions:
            ok = self.submissions[party][1]
            return "pending" if ok is None else ("honest" if ok else "invalid_proof")
        if party in self.late:
            return "late"
        return "absent" if self.closed else "waiting"

    # -- settlement ----------------------------------------------------------------------------
    def can_close(self, at_ms: int) -> bool:
        """After T_tk, or earlier once every party has submitted (an early close)."""
        answered = len(self.submissions) + len(self.refused)
        return at_ms > self.schedule.deadline(self.PHASE) or answered == len(self.parties)

    def close(
        self,
        at_ms: int,
        *,
        pool_carry: int = 0,
        weights: Mapping[str, Any] | None = None,
    ) -> Settlement:
        """Settle the phase: payback, penalties, extra pay (see the module docstring).

        ``pool_carry``: money already in the pool from earlier phases, paid out here too.
        ``weights``: contribution weights of the parties for the extra pay (default equal).
        Idempotent: a second call returns an empty settlement with ``repeat=True``.
        """
        if self.settlement is not None:
            return Settlement(self.group, self.PHASE, repeat=True)
        if not self.can_close(at_ms):
            raise ContractError(f"{self.PHASE.value} is still open until its deadline")
        if self.pending:
            raise ContractError(f"verification pending for {list(self.pending)}")
        if pool_carry < 0:
            raise ValueError("pool_carry must be >= 0")
        honest = self.honest
        paybacks: list[Transfer] = []
        penalties: list[Transfer] = []
        penalised: dict[str, str] = {}
        for p in self.parties:
            st = self.status(p) if p in self.submissions or p in self.late else "absent"
            if p in self.refused:
                continue  # an on-time refusal: no deposit taken, nothing forfeited or paid
            if st == "honest":
                paybacks += transfers_of(self.escrow, p, self.deposit, Reason.PAYBACK, p)
            elif st == "invalid_proof":
                penalised[p] = Reason.PENALTY_INVALID.value
                penalties += transfers_of(
                    self.escrow, self.pool, self.deposit, Reason.PENALTY_INVALID, p
                )
            else:
                reason = Reason.PENALTY_LATE if st == "late" else Reason.PENALTY_ABSENT
                penalised[p] = reason.value
                forfeit = min(self.deposit, self.stakes[p])
                self.stakes[p] -= forfeit
                penalties += transfers_of(self.stake, self.pool, forfeit, reason, p)
        pot = sum(t.amount for t in penalties) + int(pool_carry)
        if weights is None:
            w: dict[str, Any] = {p: 1 for p in honest}
        else:
            w = {p: weights.get(p, 0) for p in honest}
        extra: dict[str, int] = {}
        retained = pot
        if pot and honest and sum(w.values()) > 0:
            extra = {p: a for p, a in split_reward(pot, w).items() if a}
            retained = 0
        pay = [
            t
            for p in honest
            for t in transfers_of(self.pool, p, extra.get(p, 0), Reason.EXTRA_PAY, p)
        ]
        self.settlement = Settlement(
            self.group,
            self.PHASE,
            tuple(paybacks + penalties + pay),
            honest,
            penalised,
            extra,
            retained,
            self._decryptable(),
        )
        s = self.settlement
        # Conservation: every deposit leaves escrow; the pool pays out all it got, or keeps it.
        assert s.total_out(self.escrow) == self.deposit * len(self.submissions)
        assert s.total_in(self.pool) + pool_carry == s.total_out(self.pool) + retained
        return s

    def _decryptable(self) -> bool | None:
        return None

    # -- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "group": self.group,
            "parties": list(self.parties),
            "deposit": self.deposit,
            "schedule": self.schedule.to_dict(),
            "stakes": dict(self.stakes),
            "submissions": {p: [t, ok] for p, (t, ok) in self.submissions.items()},
            "late": dict(self.late),
            "refused": dict(self.refused),
            "settlement": None if self.settlement is None else self.settlement.to_dict(),
            **self._extra_state(),
        }

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> str:
        return canonical_json(self.to_dict()).decode()

    def _load_state(self, d: Mapping[str, Any]) -> None:
        self.stakes = {p: int(v) for p, v in d["stakes"].items()}
        self.submissions = {p: (int(t), ok) for p, (t, ok) in d["submissions"].items()}
        self.late = {p: int(t) for p, t in d["late"].items()}
        self.refused = {p: int(t) for p, t in d.get("refused", {}).items()}
        s = d.get("settlement")
        self.settlement = None if s is None else Settlement.from_dict(s)


class TradingContract(_DepositPhaseContract):
    """F*_GradientCollecting (paper Algorithm 3): gradients with deposit d before T_t1.

    Proof_PK is checked by the caller (fsver1) and passed as ``proof_ok``; pass None to verify
    later with :meth:`verify` (before T_t2). Settle with :meth:`close` after T_t1 (or once
    every party has submitted); :attr:`honest` are the parties whose gradients go to the
    Processing contract.
    """

    PHASE = Phase.T1
    verify_phase = Phase.T2
    KIND = "trading"

    def submit_gradient(self, party: str, at_ms: int, proof_ok: bool | None) -> Receipt:
        """Accept ``party``'s gradient and its deposit d (a DEPOSIT transfer party -> escrow).

        Late (after T_t1): refused with LateError and the party is recorded as late.
        Unknown party, double submission or a closed phase: ContractError.
        """
        return self._submit(party, at_ms, proof_ok)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TradingContract:
        assert d["kind"] == cls.KIND
        c = cls(d["group"], d["parties"], d["deposit"], RoundSchedule.from_json(d["schedule"]))
        c._load_state(d)
        return c

    @classmethod
    def from_json(cls, s: str | bytes) -> TradingContract:
        return cls.from_dict(json.loads(s))


class DecryptionContract(_DepositPhaseContract):
    """F*_CollaborativeDecryption (paper Algorithm 4): decryption shares with deposit d.

    A share counts if it arrives by T_t5 and its Proof_CD verifies (fsver2). The round can
    decrypt when at least ``threshold`` = t valid shares arrived (t-of-N threshold Paillier);
    parties that post nothing forfeit d from their stake, and the round goes on without them.
    """

    PHASE = Phase.T5
    verify_phase = Phase.T6  # Proof_CD checked before the combined result returns (T_t6)
    KIND = "decryption"

    def __init__(
        self,
        group: str,
        parties: Sequence[str],
        deposit: int,
        schedule: RoundSchedule,
        *,
        threshold: int,
        stakes: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(group, parties, deposit, schedule, stakes=stakes)
        if not 1 <= threshold <= len(self.parties):
            raise ValueError("threshold t must satisfy 1 <= t <= N")
        self.threshold = int(threshold)

    def submit_share(self, party: str, at_ms: int, proof_ok: bool | None) -> Receipt:
        """Accept ``party``'s decryption share c_j and deposit d (before T_t5)."""
        return self._submit(party, at_ms, proof_ok)

    def refuse(self, party: str, at_ms: int) -> None:
        """Record ``party``'s on-time refusal to decrypt (its DECRYPTION_REFUSAL): it sent no
        share and no deposit, and is neither penalised nor paid at settlement.

        Late (after T_t5): LateError and the party is recorded as late (like a late share).
        A party that already shared, or refused, or a closed phase: ContractError.
        """
        if party not in self.stakes:
            raise ContractError(f"{party} is not a party of group {self.group}")
        if self.closed:
            raise ContractError(f"{self.PHASE.value} of group {self.group} is closed")
        if party in self.submissions or party in self.refused or party in self.late:
            raise ContractError(f"{party} already answered in {self.PHASE.value}")
        self._on_time_or_late(party, at_ms)
        self.refused[party] = at_ms

    @property
    def valid_shares(self) -> tuple[str, ...]:
        """Parties whose share verified, in group order (combine any t of them)."""
        return self.honest

    @property
    def decryptable(self) -> bool:
        """At least t valid shares: the aggregate can be decrypted."""
        return len(self.valid_shares) >= self.threshold

    def _decryptable(self) -> bool | None:
        return self.decryptable

    def _extra_state(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DecryptionContract:
        assert d["kind"] == cls.KIND
        c = cls(
            d["group"],
            d["parties"],
            d["deposit"],
            RoundSchedule.from_json(d["schedule"]),
            threshold=int(d["threshold"]),
        )
        c._load_state(d)
        return c

    @classmethod
    def from_json(cls, s: str | bytes) -> DecryptionContract:
        return cls.from_dict(json.loads(s))
