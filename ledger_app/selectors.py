"""Ledger reads: balances, supply, the export for auditors and the chain verifier."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Sum

from deepchain.audit.chain import AuditReport, audit_ledger, describe
from deepchain.audit.chain import export_ledger as core_export
from deepchain.canonical import canonical_json
from deepchain.ledger.blocks import Block as CoreBlock
from deepchain.ledger.blocks import genesis_params, merkle_root
from deepchain.ledger.transactions import Transaction as CoreTx
from deepchain.ledger.transactions import TxFormatError
from ledger_app.models import (
    Account,
    Block,
    ConsensusAttempt,
    ConsensusEvent,
    LedgerEntry,
    Transaction,
)


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


def signed_fields(tx: Transaction) -> dict:
    """kind, sender, nonce, group, round, phase and payload of a stored transaction as its
    canonical bytes say (what the API and explorer show); {} if ``raw`` does not decode."""
    doc = _parse(tx.raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        return {}
    out = {k: doc.get(k) for k in ("kind", "sender", "nonce", "round", "payload")}
    out["group"] = doc.get("group") or ""
    out["phase"] = doc.get("phase") or ""
    return out


def served_copies() -> dict:
    """Every column the platform serves beside the canonical bytes (deepchain.audit.served):
    block headers, transactions, wallet histories (LedgerEntry), balances and nonces."""
    heights = dict(Block.objects.values_list("id", "height"))
    return {
        "blocks": [
            {"height": b.height, "block_hash": b.block_hash, "prev_hash": b.prev_hash,
             "merkle_root": b.merkle_root, "timestamp_ms": b.timestamp_ms, "leader": b.leader,
             "consensus_round": b.consensus_round, "tx_count": b.tx_count}
            for b in Block.objects.order_by("height")
        ],
        "transactions": [
            {"tx_hash": t.tx_hash, "kind": t.kind, "sender": t.sender, "nonce": t.nonce,
             "group": t.group_ref, "round": t.round, "phase": t.phase, "payload": t.payload,
             "status": t.status, "reason": t.reason, "block": heights.get(t.block_id),
             "index": t.index_in_block}
            for t in Transaction.objects.order_by("id")
        ],
        "entries": [
            {"id": e["id"], "account": e["account__address"], "delta": e["delta"],
             "balance_after": e["balance_after"], "tx": e["transaction__tx_hash"]}
            for e in LedgerEntry.objects.order_by("id").values(
                "id", "account__address", "delta", "balance_after", "transaction__tx_hash")
        ],
        "accounts": [
            {"address": a, "balance": b, "nonce": n}
            for a, b, n in Account.objects.order_by("id").values_list("address", "balance", "nonce")
        ],
    }  # fmt: skip


#: at most this many blocks per ``blocks_from`` page (agents page through the chain)
CHAIN_PAGE = 100


def blocks_from(height: int, limit: int = CHAIN_PAGE) -> list[object]:
    """Final block documents from ``height`` on (at most ``limit``), as the export has them:
    what a party agent verifies itself (deepchain.agent_chain)."""
    rows = Block.objects.filter(height__gte=max(0, int(height))).order_by("height")
    return [_export_block(r) for r in rows[: max(1, min(int(limit), CHAIN_PAGE))]]


def export_ledger() -> dict:
    """The audit document ``python -m deepchain.audit`` reads (deepchain.audit.chain format): the
    chain, the pending mempool in admission order, and the copies the platform serves."""
    rows = list(Block.objects.order_by("height"))
    if not rows:
        return {"version": 1, "genesis": None, "blocks": []}
    genesis = CoreBlock.from_dict(json.loads(rows[0].raw))
    doc = core_export([genesis])
    doc["genesis"] = _export_block(rows[0])
    doc["blocks"] = [_export_block(r) for r in rows[1:]]
    doc["pending"] = [
        _parse(raw)
        for raw in Transaction.objects.filter(status=Transaction.Status.PENDING)
        .order_by("id")
        .values_list("raw", flat=True)
    ]
    doc["served"] = served_copies()
    return doc


@dataclass
class ChainVerdict:
    ok: bool
    reason: str
    first_bad: dict | None
    report: AuditReport | None
    problems: list[dict] = field(default_factory=list)

    def verdict(self) -> str:
        if self.ok and self.report is not None:
            return self.report.verdict() + "; balances and wallet histories match the chain"
        where = ""
        if self.first_bad:
            where = f" at block {self.first_bad.get('block')}"
            if self.first_bad.get("tx"):
                where += f", tx {self.first_bad['tx']}"
        head = f"FAIL{where}: {self.reason}"
        if len(self.problems) <= 1:
            return head
        return "\n".join([f"{head} ({len(self.problems)} problems)"]
                         + [f"  - {describe(p)}" for p in self.problems])  # fmt: skip

    def to_dict(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "first_bad": self.first_bad,
                "problems": self.problems, "verdict": self.verdict(),
                "report": self.report.to_dict() if self.report else None}  # fmt: skip


def _stored_bytes_problems(rows: list[Block]) -> list[dict]:
    """Stored bytes vs indexed rows: each Block.raw canonical, hashing to its row, and each
    Transaction.raw equal to the block's copy. One problem per bad block or transaction."""
    out: list[dict] = []

    def bad(reason: str, block: int | None, tx: str | None = None, row: str | None = None):
        out.append({"block": block, "tx": tx, "row": row, "check": "stored", "reason": reason})

    for row in rows:
        where = f"block:{row.height}"
        doc = _parse(row.raw)
        if not isinstance(doc, dict) or canonical_json(doc).decode() != row.raw:
            bad("Block.raw is not canonical JSON (edited bytes)", row.height, row=where)
            continue
        try:
            b = CoreBlock.from_dict(doc)
        except (TxFormatError, TypeError, ValueError) as exc:
            bad(f"Block.raw malformed: {exc}", row.height, row=where)
            continue
        sigs = [b.leader_signature] + [v.signature for v in b.votes]
        if any(sig != sig.lower() for sig in sigs):  # the core accepts upper-case hex here
            bad("Block.raw signature not in canonical lower-case hex", row.height, row=where)
        if b.block_hash != row.block_hash or b.height != row.height:
            bad("Block.raw does not hash to the stored block hash", row.height, row=where)
        stored = list(row.transactions.order_by("index_in_block"))
        if [t.tx_hash for t in stored] != b.tx_hashes():
            bad("transactions table disagrees with the block body", row.height, row=where)
            continue
        for t, core in zip(stored, b.transactions, strict=True):
            tdoc = _parse(t.raw)
            if tdoc != core.to_dict() or t.raw != canonical_json(core.to_dict()).decode():
                bad("Transaction.raw differs from the block's copy (edited bytes)", row.height,
                    t.tx_hash, f"transaction:{t.tx_hash}")  # fmt: skip
    for t in Transaction.objects.filter(status=Transaction.Status.PENDING).order_by("id"):
        try:
            tx = CoreTx.from_dict(json.loads(t.raw))
        except (TxFormatError, ValueError, TypeError) as exc:
            bad(f"pending Transaction.raw malformed: {exc}", None, t.tx_hash,
                f"transaction:{t.tx_hash}")  # fmt: skip
            continue
        if tx.tx_hash != t.tx_hash:
            bad("pending Transaction.raw does not hash to its tx_hash", None, t.tx_hash,
                f"transaction:{t.tx_hash}")  # fmt: skip
    return out


def verify_chain(*, protocol: bool = True, processes: int | None = None) -> ChainVerdict:
    """Re-verify everything and report every problem, each naming its block, transaction or
    row: stored bytes vs indexed rows, then the core audit (hash links, Merkle roots, leader
    eligibility and signature, quorum, vote and tx signatures, nonces, supply) with, unless
    ``protocol`` is False, the protocol checks of ``deepchain.audit.protocol`` against the
    blob store settings.DEEPCHAIN_BLOBS (every Proof_PK, VERIFY verdict, aggregate, Proof_CD,
    published result and settlement; proofs in ``processes`` processes, default
    settings.DEEPCHAIN_AUDIT_PROCESSES or 1), then every served copy (transaction columns,
    block headers, wallet histories, balances and nonces) against the chain plus the pending
    mempool replayed in order (``deepchain.audit.served``)."""
    rows = list(Block.objects.order_by("height"))
    if not rows:
        return ChainVerdict(False, "no genesis block", {"block": None, "tx": None}, None,
                            [{"block": None, "tx": None, "row": None, "check": "ledger",
                              "reason": "no genesis block"}])  # fmt: skip
    stored = _stored_bytes_problems(rows)
    if protocol:
        from deepchain.audit.protocol import audit_with_protocol
        from ledger_app.services import blob_store

        procs = processes or int(getattr(settings, "DEEPCHAIN_AUDIT_PROCESSES", 1))
        # a settlement may be split across the tip and the mempool: open ends only when final
        final = not Transaction.objects.filter(status=Transaction.Status.PENDING).exists()
        report, _ = audit_with_protocol(export_ledger(), blob_store(), processes=procs, final=final)
    else:
        report = audit_ledger(export_ledger())
    problems = stored + report.problems
    if not problems:
        return ChainVerdict(True, "ok", None, report, [])
    p = problems[0]
    return ChainVerdict(False, p["reason"], {"block": p.get("block"), "tx": p.get("tx")}, report,
                        problems)  # fmt: skip


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
