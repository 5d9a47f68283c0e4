"""The chain and its transactions: bootstrap (genesis), appending final blocks, and every
signed transaction validated by the core ``LedgerState`` rules against the locked account
rows (:func:`move_money`, :func:`submit_transaction`, :func:`record_rejection`)."""

from __future__ import annotations

import contextlib
import datetime
import os
import time
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deepchain.canonical import canonical_json
from deepchain.crypto.identity import Identity
from deepchain.incentives.money import account_kind, escrow_account, pool_account
from deepchain.ledger.blocks import Block as CoreBlock
from deepchain.ledger.blocks import make_genesis
from deepchain.ledger.state import LedgerState
from deepchain.ledger.transactions import (
    GENESIS_SENDER,
    InvalidTransaction,
    TxFormatError,
    TxKind,
    make_rejection,
)
from deepchain.ledger.transactions import Transaction as CoreTx
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish_to_address
from deepchain_web.throttling import rate as throttle_rate
from ledger_app.models import Account, Block, LedgerEntry, RefusalTally, Transaction, WorkerNode
from ledger_app.services.keystore import (
    authority_identity,
    node_identity,
    now_ms,
    treasury_identity,
)

MONEY_KINDS = frozenset({TxKind.TRANSFER, TxKind.DEPOSIT, TxKind.PAYOUT, TxKind.PENALTY})


# -- bootstrap -------------------------------------------------------------------------------
def node_names() -> list[str]:
    return [f"node-{i}" for i in range(int(settings.DEEPCHAIN_WORKER_NODES))]


def bootstrap_chain() -> None:
    """Idempotent bootstrapping (paper 4.2.1): authority, treasury, worker nodes (ring of
    neighbours) and the genesis block allocating DEEPCHAIN_GENESIS_SUPPLY to the treasury."""
    if Block.objects.filter(height=0).exists():
        return
    authority, treasury = authority_identity(), treasury_identity()
    nodes = {name: node_identity(name) for name in node_names()}
    supply = int(settings.DEEPCHAIN_GENESIS_SUPPLY)
    committee = min(int(settings.DEEPCHAIN_COMMITTEE_SIZE), len(nodes))
    genesis = make_genesis(
        {treasury.address: supply},
        [authority.address],
        [n.address for n in nodes.values()],
        now_ms(),
        committee_size=committee,
    )
    try:
        with transaction.atomic():
            Account.objects.create(
                address=authority.address, box_pk=authority.public.box_pk,
                kind=Account.Kind.AUTHORITY, label="contracts authority",
            )  # fmt: skip
            t = Account.objects.create(
                address=treasury.address, box_pk=treasury.public.box_pk,
                kind=Account.Kind.TREASURY, label="treasury", balance=supply,
            )  # fmt: skip
            rows = []
            for name, ident in nodes.items():
                acct = Account.objects.create(
                    address=ident.address, box_pk=ident.public.box_pk,
                    kind=Account.Kind.WORKER, label=name,
                )  # fmt: skip
                rows.append(WorkerNode.objects.create(name=name, account=acct, height=0))
            for i, node in enumerate(rows):
                if len(rows) > 1:
                    node.neighbours.add(rows[(i + 1) % len(rows)])
            block = _store_block(genesis)
            gtx = Transaction.objects.get(block=block)
            LedgerEntry.objects.create(
                account=t, delta=supply, balance_after=supply, reason="genesis", transaction=gtx
            )
    except IntegrityError:
        if not Block.objects.filter(height=0).exists():
            raise


def genesis_block() -> CoreBlock:
    return CoreBlock.from_dict(_loads(Block.objects.get(height=0).raw))


def _loads(raw: str) -> dict:
    import json

    return json.loads(raw)


def _store_block(block: CoreBlock) -> Block:
    raw = canonical_json(block.to_dict()).decode()
    h = block.header
    row = Block.objects.create(
        height=h.height, block_hash=block.block_hash, prev_hash=h.prev_hash,
        merkle_root=h.merkle_root, timestamp_ms=h.timestamp_ms, leader=h.leader,
        consensus_round=h.consensus_round, tx_count=h.tx_count, raw=raw,
    )  # fmt: skip
    known = {
        t.tx_hash: t
        for t in Transaction.objects.filter(tx_hash__in=block.tx_hashes()).select_for_update()
    }
    for i, tx in enumerate(block.transactions):
        existing = known.get(tx.tx_hash)
        if existing is None:
            _tx_row(tx, status=Transaction.Status.CONFIRMED, block=row, index_in_block=i)
            continue
        assert existing.status != Transaction.Status.REJECTED, "a rejected tx in a final block"
        Transaction.objects.filter(pk=existing.pk).update(
            status=Transaction.Status.CONFIRMED, block=row, index_in_block=i
        )
    return row


def append_block(*, block: CoreBlock) -> Block:
    """Store a final block (idempotent by height/hash) and confirm its transactions."""
    existing = Block.objects.filter(height=block.height).first()
    if existing is not None:
        if existing.block_hash != block.block_hash:
            raise DomainError(f"height {block.height} already holds another block",
                              code="fork")  # fmt: skip
        return existing
    with transaction.atomic():
        row = _store_block(block)
        # each group's live dashboard learns of the block holding its transactions
        counts: dict[str, int] = {}
        for tx in block.transactions:
            if tx.group:
                counts[tx.group] = counts.get(tx.group, 0) + 1
        for address, n in counts.items():
            publish_to_address(address, "block", height=row.height, hash=row.block_hash,
                               tx_count=row.tx_count, group_txs=n)  # fmt: skip
        return row


def contract_accounts(group: str | None) -> frozenset[str]:
    """The contract accounts of a group: ``escrow:<group>`` (stakes, deposits) and
    ``pool:<group>`` (forfeited deposits). They exist from the first transaction touching them."""
    return frozenset({escrow_account(group), pool_account(group)}) if group else frozenset()


def ensure_contract_account(address: str) -> None:
    kind = Account.Kind.ESCROW if account_kind(address) == "escrow" else Account.Kind.POOL
    Account.objects.get_or_create(address=address, defaults={"kind": kind})


# -- transactions -----------------------------------------------------------------------------
class _Refused(Exception):
    def __init__(self, tx: CoreTx | None, reason: str, code: str = "refused") -> None:
        super().__init__(reason)
        self.tx, self.reason, self.code = tx, reason, code


def _touched(tx_kind: TxKind, sender: str, payload: dict, group: str | None) -> set[str]:
    """Accounts a transaction may change (known before validation, so they can be locked)."""
    out = {sender}
    if tx_kind == TxKind.TRANSFER and isinstance(payload.get("to"), str):
        out.add(payload["to"])
    elif tx_kind == TxKind.DEPOSIT and group:
        out.add(escrow_account(group))
    elif tx_kind == TxKind.PAYOUT and group:
        out |= {escrow_account(group), pool_account(group)}
        if isinstance(payload.get("to"), str):
            out.add(payload["to"])
    elif tx_kind == TxKind.PENALTY and group:
        out |= {escrow_account(group), pool_account(group)}
    return out


@lru_cache(maxsize=8)
def _authorities_for(genesis_hash: str) -> frozenset[str]:
    return frozenset(genesis_block().transactions[0].payload["authorities"])


def authorities() -> frozenset[str]:
    g = Block.objects.only("block_hash").get(height=0)
    return _authorities_for(g.block_hash)


def _lock(addresses: set[str], group: str | None = None) -> dict[str, Account]:
    """select_for_update every account, in id order (no deadlock between two movers).

    The contract accounts of ``group`` among ``addresses`` (escrow, pool) are created first if
    missing, in address order; no other ``escrow:``/``pool:`` address is ever created here."""
    for a in sorted(set(addresses) & contract_accounts(group)):
        ensure_contract_account(a)
    rows = list(Account.objects.select_for_update().filter(address__in=addresses).order_by("id"))
    return {r.address: r for r in rows}


def _tx_row(tx: CoreTx, *, status: str, reason: str = "", **kw) -> Transaction:
    return Transaction.objects.create(
        tx_hash=tx.tx_hash, kind=str(tx.kind), sender=tx.sender, nonce=tx.nonce,
        group_ref=tx.group or "", round=tx.round, phase=tx.phase or "",
        payload=tx.to_dict()["payload"], raw=canonical_json(tx.to_dict()).decode(),
        status=status, reason=reason, **kw,
    )  # fmt: skip


def _commit(
    build: Callable[[int], CoreTx],
    sender: str,
    touched: set[str],
    entry_reason: str,
    group: str | None = None,
) -> Transaction:
    """Lock (creating ``group``'s contract accounts it touches), validate against the core
    rules, apply the moves with ledger entries, store the pending transaction. Raises _Refused
    (after rolling back) on any rule failure."""
    with transaction.atomic():
        accts = _lock(touched | {sender}, group)
        if sender not in accts:
            raise _Refused(None, f"unknown sender {sender[:16]}", "unknown_account")
        tx = build(accts[sender].nonce + 1)
        if Transaction.objects.filter(tx_hash=tx.tx_hash).exists():
            raise _Refused(tx, "replayed transaction: already recorded", "replay")
        st = LedgerState(
            balances={a: r.balance for a, r in accts.items()},
            nonces={sender: accts[sender].nonce},
            supply=0,
            authorities=set(authorities()),
        )
        try:
            moves = st.moves(tx)
        except InvalidTransaction as exc:
            code = "insufficient_balance" if exc.reason.startswith("insufficient") else "refused"
            if exc.reason.startswith("bad nonce"):
                code = "replay"
            raise _Refused(tx, exc.reason, code) from exc
        missing = sorted({a for m in moves for a in m[:2]} - set(accts))
        if missing:
            raise _Refused(tx, f"unknown account {missing[0][:24]}", "unknown_account")
        row = _tx_row(tx, status=Transaction.Status.PENDING)
        for src, dst, amount in moves:
            for addr, delta in ((src, -amount), (dst, amount)):
                a = accts[addr]
                a.balance += delta
                assert a.balance >= 0, "negative balance"
                a.save(update_fields=["balance"])
                LedgerEntry.objects.create(
                    account=a, delta=delta, balance_after=a.balance, reason=entry_reason[:200],
                    transaction=row,
                )  # fmt: skip
        s = accts[sender]
        s.nonce = tx.nonce
        s.save(update_fields=["nonce"])
        return row


def _refuse(exc: _Refused, summary: dict) -> DomainError:
    record_rejection(tx_dict_or_summary=exc.tx if exc.tx is not None else summary,
                     reason=exc.reason, budgeted=True)  # fmt: skip
    return DomainError(exc.reason, code=exc.code)


def _within_refusal_budget(sender: str, reason: str) -> bool:
    """Count a refusal of ``sender``; True while the sender's window still has on-chain
    records left (DEEPCHAIN_RATES["rejection"] per fixed window), False beyond: then the
    refusal is only counted in the window's RefusalTally row."""
    r = throttle_rate("rejection")
    epoch = int(time.time()) // r.period_s * r.period_s
    start = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    with transaction.atomic():
        try:
            with transaction.atomic():
                RefusalTally.objects.get_or_create(sender=sender[:80], window_start=start)
        except IntegrityError:  # created concurrently: it exists now
            pass
        tally = RefusalTally.objects.select_for_update().get(sender=sender[:80], window_start=start)
        tally.count += 1
        tally.last_reason = reason[:500]
        ok = tally.recorded < r.count
        if ok:
            tally.recorded += 1
        tally.save(update_fields=["count", "recorded", "last_reason"])
    return ok


def move_money(
    *,
    source: str,
    destination: str,
    amount: int,
    kind: TxKind,
    reason: str,
    signer: Identity,
    group: str | None = None,
    round: int | None = None,
    phase: str | None = None,
    extra: dict | None = None,
) -> Transaction:
    """THE money function: one signed pending transaction moving ``amount`` from ``source``
    to ``destination`` under row locks, with one LedgerEntry per changed account.

    kind TRANSFER (signer = source), DEPOSIT (signer = source, destination escrow:<group>),
    PAYOUT (authority; source escrow:<group> or pool:<group>), PENALTY (authority; escrow ->
    pool; ``extra["party"]`` names the penalised party). Refusals raise DomainError and are
    recorded (status=rejected + an on-chain REJECTION by the authority)."""
    kind = TxKind(kind)
    summary = {"kind": str(kind), "sender": signer.address, "source": source,
               "destination": destination, "amount": amount, "group": group}  # fmt: skip
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        exc = _Refused(None, f"amount must be a positive integer, got {amount!r}", "bad_amount")
        raise _refuse(exc, summary)
    if source == destination:
        raise _refuse(_Refused(None, "source and destination are the same", "same_account"),
                      summary)  # fmt: skip
    payload: dict = {**(extra or {}), "amount": amount, "reason": reason}
    if kind == TxKind.TRANSFER:
        payload["to"] = destination
    elif kind == TxKind.PAYOUT:
        payload["to"] = destination
        payload["source"] = "pool" if account_kind(source) == "pool" else "escrow"
    expected = {
        TxKind.TRANSFER: (signer.address, destination),
        TxKind.DEPOSIT: (signer.address, escrow_account(group) if group else None),
        TxKind.PAYOUT: (escrow_account(group) if group else None, destination),
        TxKind.PENALTY: (
            escrow_account(group) if group else None,
            pool_account(group) if group else None,
        ),
    }.get(kind)
    if expected is None:
        raise DomainError(f"{kind} does not move money; use submit_transaction", code="kind")
    if kind == TxKind.PAYOUT and group:
        expected = (
            source if source in (escrow_account(group), pool_account(group)) else None,
            destination,
        )
    if (source, destination) != expected:
        raise _refuse(_Refused(None, f"{kind} cannot move money from {source[:24]} to "
                                     f"{destination[:24]} signed by {signer.address[:16]}",
                               "inconsistent"), summary)  # fmt: skip
    build = _signed_here(kind, signer, payload, group, round, phase)

    try:
        # every account the kind may touch (PAYOUT/PENALTY: escrow and pool), locked in id order
        touched = _touched(kind, signer.address, payload, group) | {source, destination}
        row = _commit(build, signer.address, touched, reason, group)
    except _Refused as exc:
        raise _refuse(exc, summary) from None
    except TxFormatError as exc:
        raise _refuse(_Refused(None, str(exc), "format"), summary) from None
    return row


def _signed_here(
    kind: TxKind,
    signer: Identity,
    payload: dict,
    group: str | None,
    round: int | None,
    phase: str | None,
) -> Callable[[int], CoreTx]:
    """The transaction ``signer`` signs here, stamped now, as a function of its nonce."""
    ts = now_ms()

    def build(nonce: int) -> CoreTx:
        return CoreTx(
            kind=kind, sender=signer.address, nonce=nonce, payload=payload, group=group,
            round=round, phase=phase, timestamp_ms=ts,
        ).signed(signer)  # fmt: skip

    return build


def submit_transaction(
    *,
    kind: TxKind,
    signer: Identity,
    payload: dict,
    group: str | None = None,
    round: int | None = None,
    phase: str | None = None,
) -> Transaction:
    """A non-money transaction signed server-side (verification results, aggregates, clock
    events, group creation); the signer must have an Account (its nonce is allocated here)."""
    kind = TxKind(kind)
    if kind in MONEY_KINDS or kind == TxKind.GENESIS:
        raise DomainError(f"{kind} moves money: use move_money", code="kind")
    build = _signed_here(kind, signer, payload, group, round, phase)

    summary = {"kind": str(kind), "sender": signer.address, "group": group}
    try:
        return _commit(build, signer.address, set(), str(kind))
    except _Refused as exc:
        raise _refuse(exc, summary) from None
    except TxFormatError as exc:
        raise _refuse(_Refused(None, str(exc), "format"), summary) from None


def submit_signed_transaction(*, tx: CoreTx) -> Transaction:
    """A transaction a party agent signed itself: signature, nonce (replay) and balance are
    checked against the locked rows; a refusal is recorded and raised as DomainError."""
    summary = {"tx_hash": tx.tx_hash, "kind": str(tx.kind), "sender": tx.sender}
    if tx.sender == GENESIS_SENDER or tx.kind == TxKind.GENESIS:
        raise _refuse(_Refused(tx, "genesis transactions cannot be submitted"), summary)
    if not tx.verify_signature():
        raise _refuse(_Refused(tx, "bad signature", "bad_signature"), summary)
    try:
        return _commit(lambda _nonce: tx, tx.sender,
                       _touched(tx.kind, tx.sender, tx.payload, tx.group),
                       str(tx.payload.get("reason") or tx.kind), tx.group)  # fmt: skip
    except _Refused as exc:
        raise _refuse(exc, summary) from None


def record_rejection(
    *, tx_dict_or_summary, reason: str, budgeted: bool = False
) -> Transaction | None:
    """Record a refused transaction: the refused tx itself (status=rejected, with reason) if
    it is a signed transaction not yet stored, and a REJECTION transaction signed by the
    authority (pending, so it goes on chain). Returns the stored rejected row (or None).

    ``budgeted`` (refusals a client can trigger at will: bad transfers, bad signatures, ...):
    at most DEEPCHAIN_RATES["rejection"] refusals per sender and window are recorded so;
    beyond, the window's RefusalTally row of the sender only counts them (nothing stored
    per request). Protocol refusals (a late gradient, ...) are always recorded: the auditor
    reads them, and the protocol bounds them (one submission per party and phase)."""
    tx: CoreTx | None = None
    if isinstance(tx_dict_or_summary, CoreTx):
        tx = tx_dict_or_summary
    elif isinstance(tx_dict_or_summary, dict) and "signature" in tx_dict_or_summary:
        try:
            tx = CoreTx.from_dict(tx_dict_or_summary)
        except TxFormatError:
            tx = None
    summary = tx.to_dict() if tx is not None else dict(tx_dict_or_summary or {})
    if budgeted:
        sender = tx.sender if tx is not None else str(summary.get("sender", ""))
        if not _within_refusal_budget(sender, reason):
            return None
    stored = None
    auth = authority_identity()
    with transaction.atomic():
        if tx is not None and not Transaction.objects.filter(tx_hash=tx.tx_hash).exists():
            stored = _tx_row(tx, status=Transaction.Status.REJECTED, reason=reason)
        if Block.objects.filter(height=0).exists():
            subject = tx or CoreTx(
                kind=TxKind.REJECTION, sender=auth.address, nonce=0,
                payload={"summary": canonical_json(summary).decode()[:2000]},
                timestamp_ms=now_ms(),
            )  # fmt: skip
            ts = now_ms()

            def build(nonce: int) -> CoreTx:
                rec = make_rejection(auth, nonce, subject, reason[:500], timestamp_ms=ts)
                return rec

            with contextlib.suppress(_Refused):  # the authority's own record never fails
                _commit(build, auth.address, set(), f"rejection: {reason}")
        if stored is None and tx is None:
            stored = Transaction.objects.create(
                tx_hash=_summary_hash(summary, reason), kind=str(summary.get("kind", "unknown")),
                sender=str(summary.get("sender", ""))[:80], nonce=0,
                group_ref=str(summary.get("group") or "")[:80], payload=summary,
                raw=canonical_json(summary).decode(), status=Transaction.Status.REJECTED,
                reason=reason,
            )  # fmt: skip
    return stored


def _summary_hash(summary: dict, reason: str) -> str:
    from deepchain.canonical import tagged_hash

    doc = {"summary": summary, "reason": reason, "at": timezone.now().isoformat(),
           "nonce": os.urandom(8).hex()}  # fmt: skip
    return tagged_hash("deepchain/refusal", canonical_json(doc))
