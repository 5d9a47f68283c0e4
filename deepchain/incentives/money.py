"""The money vocabulary of the incentives: account names, why money moved, one transfer.

Contracts and payoff rules return ``Transfer`` values; nothing here moves money. The accounts
are plain strings: a party's or worker's address, and per group ``escrow:{group}`` (deposits
of open phases), ``stake:{group}`` (stakes posted at join) and ``pool:{group}`` (penalties
until paid out as extra pay).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "GROUP_ACCOUNT_KINDS",
    "Reason",
    "Transfer",
    "account_group",
    "account_kind",
    "escrow_account",
    "pool_account",
    "stake_account",
    "stake_return_transfers",
    "stake_transfers",
    "transfers_of",
]


def escrow_account(group: str) -> str:
    """Account holding the deposits d of the open phases of ``group``."""
    return f"escrow:{group}"


def pool_account(group: str) -> str:
    """Account holding ``group``'s penalties until they are paid out as extra pay."""
    return f"pool:{group}"


def stake_account(group: str) -> str:
    """Account holding the group-level stakes posted at join."""
    return f"stake:{group}"


#: the kinds of a group's accounts, each named ``{kind}:{group}``
GROUP_ACCOUNT_KINDS = ("escrow", "stake", "pool")


def account_kind(address: str) -> str | None:
    """ "escrow", "stake" or "pool" for one of a group's accounts; None for an address (a
    party's, a worker's, the authority's)."""
    kind, sep, _group = address.partition(":")
    return kind if sep and kind in GROUP_ACCOUNT_KINDS else None


def account_group(address: str) -> str | None:
    """The group whose account ``address`` is (None for a party's or worker's address)."""
    return address.partition(":")[2] if account_kind(address) else None


class Reason(StrEnum):
    """Why money moved (recorded on chain with every transfer)."""

    STAKE = "stake"
    STAKE_RETURN = "stake_return"
    DEPOSIT = "deposit"
    PAYBACK = "payback"
    PENALTY_INVALID = "penalty:invalid_proof"
    PENALTY_LATE = "penalty:late"
    PENALTY_ABSENT = "penalty:absent"
    #: the dealerless key ceremony named the party (stalled, or a provably inconsistent message)
    PENALTY_KEY_SETUP = "penalty:key_setup"
    EXTRA_PAY = "extra_pay"
    WORKER_FEE = "worker_fee"
    #: a group ended (aborted, failed) before the phase settled: the message's deposit d back
    DEPOSIT_REFUND = "deposit_refund"


@dataclass(frozen=True)
class Transfer:
    """One money move: ``amount`` (> 0, smallest unit) from ``source`` to ``destination``."""

    source: str
    destination: str
    amount: int
    reason: str
    party: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount <= 0:
            raise ValueError(f"transfer amount must be a positive int, got {self.amount!r}")
        if self.source == self.destination:
            raise ValueError("transfer to the same account")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "amount": self.amount,
            "reason": str(self.reason),
            "party": self.party,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Transfer:
        return cls(d["source"], d["destination"], int(d["amount"]), d["reason"], d.get("party"))


def transfers_of(
    src: str, dst: str, amount: int, reason: Reason, party: str | None
) -> list[Transfer]:
    """[the transfer of ``amount``], or [] for a zero amount (never a negative one)."""
    if amount < 0:
        raise ValueError(f"a transfer amount cannot be negative, got {amount}")
    return [Transfer(src, dst, amount, reason.value, party)] if amount else []


def stake_transfers(group: str, parties: Iterable[str], stake: int) -> list[Transfer]:
    """Each party posts its group stake at join: party -> ``stake:{group}``."""
    out: list[Transfer] = []
    for p in parties:
        out += transfers_of(p, stake_account(group), stake, Reason.STAKE, p)
    return out


def stake_return_transfers(group: str, remaining: Mapping[str, int]) -> list[Transfer]:
    """At the end of the group, return what is left of each party's stake."""
    out: list[Transfer] = []
    for p, amount in remaining.items():
        if amount < 0:
            raise ValueError(f"negative remaining stake for {p}")
        out += transfers_of(stake_account(group), p, amount, Reason.STAKE_RETURN, p)
    return out
