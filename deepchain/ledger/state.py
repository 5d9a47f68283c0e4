"""The money state a chain implies (DeepCoin balances, nonces), re-derivable by any auditor.

Accounts (named in ``incentives.money``):
- a party's or worker's address (Ed25519 public key hex);
- ``escrow:<group>``: deposits held by a group's contracts (F*_GradientCollecting, ...);
- ``pool:<group>``: penalties awaiting redistribution as extra pay.

Invariants (asserted after every transition): no balance is negative and the balances sum
to ``supply``, which only the genesis block sets (paper 4.2.1: DeepCoin is distributed once,
then only moves). Every non-genesis transaction must carry the sender's next nonce (replay
protection) and a valid signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from deepchain.canonical import canonical_json, tagged_hash
from deepchain.incentives.money import escrow_account, pool_account
from deepchain.ledger.blocks import Vote
from deepchain.ledger.transactions import (
    GENESIS_SENDER,
    InvalidTransaction,
    Transaction,
    TxKind,
    is_pk_hex,
    thaw,
)

# kinds that only a contract/clock authority may send
AUTHORITY_KINDS = frozenset({TxKind.PAYOUT, TxKind.PENALTY, TxKind.CLOCK})
# kinds that must name the group they act on
GROUP_KINDS = frozenset(
    {
        TxKind.GROUP_CREATE,
        TxKind.JOIN,
        TxKind.DEPOSIT,
        TxKind.GRADIENT,
        TxKind.VERIFY,
        TxKind.AGGREGATE,
        TxKind.DECRYPTION_SHARE,
        TxKind.DECRYPTION_REFUSAL,
        TxKind.PAYOUT,
        TxKind.PENALTY,
        TxKind.CLOCK,
    }
)


def _amount(payload: dict, key: str = "amount") -> int:
    a = payload.get(key)
    if not isinstance(a, int) or isinstance(a, bool) or a <= 0:
        raise InvalidTransaction(f"{key} must be a positive integer")
    return a


@dataclass
class LedgerState:
    """Balances and nonces after applying a prefix of the chain."""

    balances: dict[str, int] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)
    supply: int = 0
    authorities: set[str] = field(default_factory=set)
    # recorded equivocations, "voter:height:k" (each misbehaviour is recorded once)
    equivocations: set[str] = field(default_factory=set)

    def copy(self) -> LedgerState:
        return LedgerState(
            dict(self.balances),
            dict(self.nonces),
            self.supply,
            set(self.authorities),
            set(self.equivocations),
        )

    def balance(self, account: str) -> int:
        return self.balances.get(account, 0)

    def next_nonce(self, sender: str) -> int:
        """The nonce the sender's next transaction must carry."""
        return self.nonces.get(sender, 0) + 1

    def check_invariants(self) -> None:
        """Assert: no negative balance, balances sum to supply."""
        assert all(v >= 0 for v in self.balances.values()), "negative balance"
        assert sum(self.balances.values()) == self.supply, "supply not conserved"

    def digest(self) -> str:
        """Hash of the state (balances, nonces, supply, authorities): compares two derivations."""
        doc = {
            "balances": {k: v for k, v in self.balances.items() if v},
            "nonces": self.nonces,
            "supply": self.supply,
            "authorities": sorted(self.authorities),
            "equivocations": sorted(self.equivocations),
        }
        return tagged_hash("deepchain/state", canonical_json(doc))

    # -- transition -------------------------------------------------------------------
    def moves(self, tx: Transaction) -> list[tuple[str, str, int]]:
        """Validate ``tx`` against this state (without mutating) and return its money moves.

        Raises InvalidTransaction(reason) if any ledger rule fails.
        """
        kind = tx.kind
        if kind == TxKind.GENESIS or tx.sender == GENESIS_SENDER:
            raise InvalidTransaction("genesis transactions are only valid in the genesis block")
        if not tx.verify_signature():
            raise InvalidTransaction("bad signature")
        expected = self.next_nonce(tx.sender)
        if tx.nonce != expected:
            what = "replayed or stale" if tx.nonce < expected else "out of order"
            raise InvalidTransaction(f"bad nonce {tx.nonce} ({what}; expected {expected})")
        if kind in AUTHORITY_KINDS and tx.sender not in self.authorities:
            raise InvalidTransaction(f"{kind} may only be sent by a contract/clock authority")
        if kind in GROUP_KINDS and tx.group is None:
            raise InvalidTransaction(f"{kind} must name its group")
        p = tx.payload
        mv: list[tuple[str, str, int]] = []
        if kind == TxKind.TRANSFER:
            to = p.get("to")
            if not is_pk_hex(to):
                raise InvalidTransaction("transfer recipient must be an address")
            mv.append((tx.sender, to, _amount(p)))
        elif kind == TxKind.DEPOSIT:
            mv.append((tx.sender, escrow_account(tx.group), _amount(p)))
        elif kind == TxKind.PAYOUT:
            to, source = p.get("to"), p.get("source")
            if not is_pk_hex(to):
                raise InvalidTransaction("payout recipient must be an address")
            if source not in ("escrow", "pool"):
                raise InvalidTransaction("payout source must be 'escrow' or 'pool'")
            if not isinstance(p.get("reason"), str):
                raise InvalidTransaction("payout needs a reason")
            src = escrow_account(tx.group) if source == "escrow" else pool_account(tx.group)
            mv.append((src, to, _amount(p)))
        elif kind == TxKind.PENALTY:
            if not is_pk_hex(p.get("party")):
                raise InvalidTransaction("penalty must name the penalised party")
            if not isinstance(p.get("reason"), str):
                raise InvalidTransaction("penalty needs a reason")
            mv.append((escrow_account(tx.group), pool_account(tx.group), _amount(p)))
        elif kind == TxKind.REJECTION and not (
            isinstance(p.get("tx_hash"), str) and isinstance(p.get("reason"), str)
        ):
            raise InvalidTransaction("rejection must name the tx_hash and the reason")
        elif kind == TxKind.EQUIVOCATION:
            key = equivocation_key(p)
            if key in self.equivocations:
                raise InvalidTransaction("equivocation already recorded")
        # debit totals per account must be covered (double spend / overdraft)
        debits: dict[str, int] = {}
        for src, _dst, a in mv:
            debits[src] = debits.get(src, 0) + a
        for src, a in debits.items():
            if self.balances.get(src, 0) < a:
                raise InvalidTransaction(
                    f"insufficient balance: {src[:24]} has {self.balances.get(src, 0)}, needs {a}"
                )
        return mv

    def apply(self, tx: Transaction) -> None:
        """Validate ``tx`` then apply it; on any failure raise and leave the state unchanged."""
        try:
            mv = self.moves(tx)
        except InvalidTransaction as exc:
            exc.tx_hash = tx.tx_hash
            raise
        for src, dst, a in mv:
            self.balances[src] -= a
            if self.balances[src] == 0:
                del self.balances[src]
            self.balances[dst] = self.balances.get(dst, 0) + a
        self.nonces[tx.sender] = tx.nonce
        if tx.kind == TxKind.EQUIVOCATION:
            self.equivocations.add(equivocation_key(tx.payload))
        self.check_invariants()

    def try_apply(self, tx: Transaction) -> str | None:
        """Apply ``tx`` if valid; return None on success or the rejection reason."""
        try:
            self.apply(tx)
        except InvalidTransaction as exc:
            return exc.reason
        return None


def equivocation_key(payload: dict) -> str:
    """Check an EQUIVOCATION payload {"vote_a", "vote_b"}: two valid votes by one voter for
    different blocks at the same (height, k). Returns "voter:height:k"; raises if not proof."""
    try:
        a, b = Vote.from_dict(thaw(payload["vote_a"])), Vote.from_dict(thaw(payload["vote_b"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidTransaction(f"equivocation evidence malformed: {exc}") from exc
    if not (a.voter == b.voter and a.height == b.height and a.k == b.k):
        raise InvalidTransaction("equivocation votes must share voter, height and round")
    if (payload.get("voter"), payload.get("height"), payload.get("k")) != (a.voter, a.height, a.k):
        raise InvalidTransaction("equivocation payload disagrees with its votes")
    if a.block_hash == b.block_hash:
        raise InvalidTransaction("equivocation votes must be for different blocks")
    if not (a.verify() and b.verify()):
        raise InvalidTransaction("equivocation evidence has a bad vote signature")
    return f"{a.voter}:{a.height}:{a.k}"


def genesis_state(allocations: dict[str, int], authorities: Iterable[str]) -> LedgerState:
    """State right after the genesis block: the initial DeepCoin distribution (4.2.1)."""
    bal: dict[str, int] = {}
    for acct, a in allocations.items():
        if not is_pk_hex(acct):
            raise InvalidTransaction(f"genesis allocation to a non-address {acct!r:.30}")
        if not isinstance(a, int) or isinstance(a, bool) or a < 0:
            raise InvalidTransaction("genesis allocations must be non-negative integers")
        if a:
            bal[acct] = a
    auth = set(authorities)
    if not all(is_pk_hex(a) for a in auth):
        raise InvalidTransaction("authorities must be addresses")
    st = LedgerState(balances=bal, nonces={}, supply=sum(bal.values()), authorities=auth)
    st.check_invariants()
    return st


def apply_all(state: LedgerState, txs: Iterable[Transaction]) -> list[tuple[Transaction, str]]:
    """Apply each valid tx in order; return the rejected ones with their reasons."""
    rejected = []
    for tx in txs:
        reason = state.try_apply(tx)
        if reason is not None:
            rejected.append((tx, reason))
    return rejected
