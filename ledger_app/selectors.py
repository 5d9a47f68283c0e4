"""Ledger reads: balances, supply, the export for auditors and the chain verifier."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum

from deepchain.audit import AuditReport, audit_ledger
from deepchain.audit import export_ledger as core_export
from deepchain.canonical import canonical_json
from deepchain.ledger.blocks import Block as CoreBlock
from deepchain.ledger.blocks import genesis_params, merkle_root
from deepchain.ledger.state import LedgerState
from deepchain.ledger.transactions import Transaction as CoreTx
from deepchain.ledger.transactions import TxFormatError
from ledger_app.models import Account, Block, ConsensusAttempt, ConsensusEvent, Transaction


def balance(address: str) -> int:
    acct = Account.objects.filter(address=address).only("balance").first()
    return acct.balance if acct else 0


def total_supply_check() -> tuple[int, int]:
    """(sum of all balances incl. escrow/pool, the genesis supply)."""
    total = Account.objects.aggregate(s=Sum("balance"))["s"] or 0
    g = Block.objects.filter(height=0).first()
    supply = int(settings.DEEPCHAIN_GENESIS_SUPPLY)
    if g is not None:
        supply = sum(genesis_params(CoreBlock.from_dict(json.loads(g.raw))).allocations.values())
    return total, supply


def _parse(raw: str) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # the core parser then refuses it as malformed


def _export_block(row: Block) -> object:
    """The block document for the export: Block.raw, with each transaction cross-checked
    against its Transaction.raw row. Where the two stored copies disagree, the export carries
    the copy that is inconsistent with the block's Merkle root, so an offline auditor sees
    the corruption of either table."""
    doc = _parse(row.raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("transactions"), list):
        return doc
    root = (
        (doc.get("header") or {}).get("merkle_root")
        if isinstance(doc.get("header"), dict)
        else None
    )
    txs = list(doc["transactions"])
    for t in row.transactions.order_by("index_in_block"):
        i = t.index_in_block
        if i is None or not 0 <= i < len(txs):
            continue
        mine = _parse(t.raw)
        if mine == txs[i]:
            continue
        alt = list(txs)
        alt[i] = mine
        try:
            alt_root = merkle_root([CoreTx.from_dict(x).tx_hash for x in alt])
        except (TxFormatError, TypeError, ValueError):
            alt_root = None
        if alt_root != root:  # the Transaction row is the corrupted copy: show it
            txs[i] = mine
    doc = dict(doc)
    doc["transactions"] = txs
    return doc


def export_ledger() -> dict:
    """The audit document ``python -m deepchain.audit`` reads (deepchain.audit format)."""
    rows = list(Block.objects.order_by("height"))
    if not rows:
        return {"version": 1, "genesis": None, "blocks": []}
    genesis = CoreBlock.from_dict(json.loads(rows[0].raw))
    doc = core_export([genesis])
    doc["genesis"] = _export_block(rows[0])
    doc["blocks"] = [_export_block(r) for r in rows[1:]]
    return doc


@dataclass
class ChainVerdict:
    ok: bool
    reason: str
    first_bad: dict | None
    report: AuditReport | None

    def verdict(self) -> str:
        if self.ok and self.report is not None:
            return self.report.verdict() + "; balances match the Account table"
        where = ""
        if self.first_bad:
            where = f" at block {self.first_bad.get('block')}"
            if self.first_bad.get("tx"):
                where += f", tx {self.first_bad['tx']}"
        return f"FAIL{where}: {self.reason}"

    def to_dict(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "first_bad": self.first_bad,
                "verdict": self.verdict(),
                "report": self.report.to_dict() if self.report else None}  # fmt: skip


def _bad(reason: str, block: int | None, tx: str | None, report=None) -> ChainVerdict:
    return ChainVerdict(False, reason, {"block": block, "tx": tx}, report)


def verify_chain(*, protocol: bool = True, processes: int | None = None) -> ChainVerdict:
    """Re-verify everything: stored bytes vs indexed columns, then the core audit (hash links,
    Merkle roots, leader eligibility and signature, quorum, vote and tx signatures, nonces,
    supply) with, unless ``protocol`` is False, the protocol checks of
    ``deepchain.audit_protocol`` against the blob store settings.DEEPCHAIN_BLOBS (every
    Proof_PK, VERIFY verdict, aggregate, Proof_CD, published result and settlement; proofs in
    ``processes`` processes, default settings.DEEPCHAIN_AUDIT_PROCESSES or 1), then balances
    re-derived from the chain (+ the pending mempool, in order) vs the Account table. Names
    the first bad block/transaction and why."""
    rows = list(Block.objects.order_by("height"))
    if not rows:
        return _bad("no genesis block", None, None)
    for row in rows:
        doc = _parse(row.raw)
        if not isinstance(doc, dict) or canonical_json(doc).decode() != row.raw:
            return _bad("Block.raw is not canonical JSON (edited bytes)", row.height, None)
        try:
            b = CoreBlock.from_dict(doc)
        except (TxFormatError, TypeError, ValueError) as exc:
            return _bad(f"Block.raw malformed: {exc}", row.height, None)
        sigs = [b.leader_signature] + [v.signature for v in b.votes]
        if any(sig != sig.lower() for sig in sigs):  # the core accepts upper-case hex here
            return _bad("Block.raw signature not in canonical lower-case hex", row.height, None)
        if b.block_hash != row.block_hash or b.height != row.height:
            return _bad("Block.raw does not hash to the stored block hash", row.height, None)
        stored = list(row.transactions.order_by("index_in_block"))
        if [t.tx_hash for t in stored] != b.tx_hashes():
            return _bad("transactions table disagrees with the block body", row.height, None)
        for t, core in zip(stored, b.transactions, strict=True):
            tdoc = _parse(t.raw)
            if tdoc != core.to_dict() or t.raw != canonical_json(core.to_dict()).decode():
                return _bad("Transaction.raw differs from the block's copy (edited bytes)",
                            row.height, t.tx_hash)  # fmt: skip
    if protocol:
        from deepchain.audit_protocol import audit_with_protocol
        from ledger_app.services import blob_store

        procs = processes or int(getattr(settings, "DEEPCHAIN_AUDIT_PROCESSES", 1))
        # a settlement may be split across the tip and the mempool: open ends only when final
        final = not Transaction.objects.filter(status=Transaction.Status.PENDING).exists()
        report, _ = audit_with_protocol(export_ledger(), blob_store(), processes=procs, final=final)
    else:
        report = audit_ledger(export_ledger())
    if not report.ok:
        fb = report.first_bad or {}
        return _bad(report.reason, fb.get("block"), fb.get("tx"), report)
    # balances: chain state + pending transactions (in id order) == Account table
    genesis = CoreBlock.from_dict(json.loads(rows[0].raw))
    g = genesis_params(genesis)
    st = LedgerState(dict(report.balances), {}, report.counts.get("supply", 0), set(g.authorities))
    nonces: dict[str, int] = {}
    for row in rows[1:]:
        for tx in CoreBlock.from_dict(json.loads(row.raw)).transactions:
            nonces[tx.sender] = tx.nonce
    st.nonces = nonces
    for t in Transaction.objects.filter(status=Transaction.Status.PENDING).order_by("id"):
        try:
            tx = CoreTx.from_dict(json.loads(t.raw))
        except (TxFormatError, ValueError) as exc:
            return _bad(f"pending Transaction.raw malformed: {exc}", None, t.tx_hash, report)
        if tx.tx_hash != t.tx_hash:
            return _bad("pending Transaction.raw does not hash to its tx_hash", None, t.tx_hash,
                        report)  # fmt: skip
        why = st.try_apply(tx)
        if why:
            return _bad(f"pending transaction invalid on replay: {why}", None, t.tx_hash, report)
    db = {a: b for a, b in Account.objects.values_list("address", "balance") if b}
    derived = {a: b for a, b in st.balances.items() if b}
    if db != derived:
        diff = sorted(set(db) ^ set(derived) | {a for a in db if derived.get(a) != db[a]})
        a = diff[0]
        return _bad(f"balance of {a[:24]}: database {db.get(a, 0)}, chain {derived.get(a, 0)}",
                    None, None, report)  # fmt: skip
    return ChainVerdict(True, "ok", None, report)


def chain_status(limit: int = 10) -> dict:
    """Height, pending count, the last consensus events and why no block if stalled."""
    tip = Block.objects.order_by("-height").first()
    height = tip.height if tip else -1
    pending = Transaction.objects.filter(status=Transaction.Status.PENDING).count()
    events = [
        {"height": e.height, "consensus_round": e.consensus_round, "kind": e.kind,
         "node": e.node.name if e.node else None, "detail": e.detail,
         "at": e.created_at.isoformat()}
        for e in ConsensusEvent.objects.select_related("node").order_by("-id")[:limit]
    ]  # fmt: skip
    stalled_reason = None
    last = ConsensusAttempt.objects.filter(height=height + 1).order_by("-consensus_round").first()
    if last is not None and last.status != ConsensusAttempt.Status.FINAL:
        closed = list(
            ConsensusAttempt.objects.filter(height=height + 1)
            .exclude(status=ConsensusAttempt.Status.OPEN)
            .order_by("-consensus_round")
        )
        if closed:
            reasons = list(dict.fromkeys(f"{a.status}: {a.reason}" for a in closed))[:6]
            stalled_reason = (
                f"no block at height {height + 1} yet after {len(closed)} consensus rounds: "
                + "; ".join(reasons)
            )
    return {
        "height": height,
        "tip_hash": tip.block_hash if tip else None,
        "pending": pending,
        "stalled": stalled_reason is not None,
        "why_no_block": stalled_reason,
        "events": events,
    }
