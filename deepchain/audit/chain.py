"""Chain audit of an exported DeepChain ledger (no Django, no database).

Re-verifies, block by block from the genesis: hash links, Merkle roots, leader eligibility
(Blockwise-BA, paper 4.2.5), leader signatures, committee quorum and vote signatures, every
transaction signature, nonces (replay), and re-derives all balances (supply conserved).
With ``--blobs`` every blob a payload references is fetched and its hash checked.
``extra_checks`` lets the crypto/contract layers plug in proof and aggregate checks
(``audit.protocol`` does: every Proof_PK, VERIFY, aggregate, Proof_CD, published result and
contract settlement); the command line is ``python -m deepchain.audit`` (``audit.__main__``).

Export format (``export_ledger``)::

    {"version": 1, "genesis": <block>, "blocks": [<block>, ...], "workers": [...],
     "committee_size": c, "authorities": [...], "stakes": {...} | null}

The worker set, committee size, authorities and stakes are fixed by the genesis block; the
top-level copies are cross-checked against it. Pin the genesis hash out of band
(``--genesis-hash``): everything else follows from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepchain.audit.served import Located, chain_moves, check_served, replay_pending
from deepchain.blobs import BlobError, BlobStore
from deepchain.ledger.blocks import Block, genesis_params
from deepchain.ledger.rules import InvalidBlock, check_block
from deepchain.ledger.state import LedgerState, genesis_state
from deepchain.ledger.transactions import Transaction, TxFormatError, blob_refs

EXPORT_VERSION = 1


@dataclass(frozen=True)
class AuditContext:
    """What an extra check sees: called once per transaction, in chain order, after the
    transaction is applied (``state`` is the state right after it)."""

    block: Block
    tx: Transaction
    state: LedgerState
    blobs: BlobStore | None
    doc: dict


ExtraCheck = Callable[[AuditContext], "str | None"]


@dataclass
class AuditReport:
    """The verdict: ``problems`` lists EVERY failed check (each naming its block, transaction
    and/or row); ``first_bad`` and ``reason`` repeat the first of them."""

    ok: bool
    first_bad: dict | None  # {"block": height, "tx": hash or None}
    reason: str
    balances: dict[str, int] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    tip_hash: str | None = None
    genesis_hash: str | None = None
    problems: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "first_bad": self.first_bad,
            "reason": self.reason,
            "problems": self.problems,
            "balances": self.balances,
            "counts": self.counts,
            "tip_hash": self.tip_hash,
            "genesis_hash": self.genesis_hash,
        }

    def verdict(self) -> str:
        c = self.counts
        if self.ok:
            return (
                f"OK: chain of {c.get('blocks', 0)} blocks after genesis, "
                f"{c.get('transactions', 0)} transactions, {c.get('votes', 0)} committee votes, "
                f"{c.get('blobs', 0)} blobs verified; supply {c.get('supply', 0)}; "
                f"tip {self.tip_hash}"
            )
        where = "input" if self.first_bad is None else f"block {self.first_bad['block']}"
        if self.first_bad and self.first_bad.get("tx"):
            where += f", tx {self.first_bad['tx']}"
        head = f"FAIL at {where}: {self.reason}"
        if len(self.problems) <= 1:
            return head
        lines = [f"{head} ({len(self.problems)} problems)"]
        lines += [f"  - {describe(p)}" for p in self.problems]
        return "\n".join(lines)


def describe(problem: dict) -> str:
    """One problem as a line naming its block, transaction and row."""
    where = [w for w in (
        f"block {problem['block']}" if problem.get("block") is not None else "",
        f"tx {problem['tx']}" if problem.get("tx") else "",
        f"row {problem['row']}" if problem.get("row") else "",
    ) if w]  # fmt: skip
    check = f"[{problem['check']}] " if problem.get("check") else ""
    return f"{', '.join(where) or 'ledger'}: {check}{problem['reason']}"


def report_from(problems: list[dict], **kw: Any) -> AuditReport:
    """An AuditReport over ``problems`` (ok iff there are none)."""
    if not problems:
        return AuditReport(True, None, "ok", problems=[], **kw)
    p = problems[0]
    fb = None if p.get("block") is None and p.get("tx") is None and p.get("row") is None else {
        "block": p.get("block"), "tx": p.get("tx")}  # fmt: skip
    return AuditReport(False, fb, p["reason"], problems=problems, **kw)


def export_ledger(
    blocks: Sequence[Block],
    *,
    extra: dict | None = None,
) -> dict:
    """Export document for a chain ``blocks`` (blocks[0] is the genesis)."""
    g = genesis_params(blocks[0])
    doc = {
        "version": EXPORT_VERSION,
        "genesis": blocks[0].to_dict(),
        "blocks": [b.to_dict() for b in blocks[1:]],
        "workers": g.workers,
        "committee_size": g.committee_size,
        "authorities": g.authorities,
        "stakes": g.stakes,
    }
    if extra:
        doc.update(extra)
    return doc


def _bad(height: int | None, tx: str | None, reason: str, **kw: Any) -> AuditReport:
    fb = None if height is None else {"block": height, "tx": tx}
    prob = {"block": height, "tx": tx, "row": None, "check": "ledger", "reason": reason}
    return AuditReport(False, fb, reason, problems=[prob], **kw)


def _lenient(state: LedgerState, block: Block) -> LedgerState:
    """The state after ``block`` applying only its valid transactions (to keep auditing the
    blocks after one that failed a check, instead of stopping there)."""
    st = state.copy()
    for tx in block.transactions:
        st.try_apply(tx)
    return st


def audit_ledger(
    doc: dict,
    blobs: BlobStore | None = None,
    extra_checks: Iterable[ExtraCheck] = (),
    *,
    genesis_hash: str | None = None,
) -> AuditReport:
    """Re-verify an exported ledger and, when the export carries them, the copies the
    platform serves (``deepchain.audit.served``). Reports every problem found, not just the
    first: after a block fails a check, the audit goes on from that block."""
    checks = list(extra_checks)
    counts: Counter[str] = Counter()
    problems: list[dict] = []

    def bad(height: int | None, tx: str | None, reason: str, check: str = "ledger") -> None:
        problems.append({"block": height, "tx": tx, "row": None, "check": check,
                         "reason": reason})  # fmt: skip

    if not isinstance(doc, dict) or doc.get("version") != EXPORT_VERSION:
        return _bad(
            None,
            None,
            f"unsupported export version {doc.get('version') if isinstance(doc, dict) else None!r}",
        )
    # genesis
    try:
        genesis = Block.from_dict(doc["genesis"])
        g = genesis_params(genesis)
        state = genesis_state(g.allocations, g.authorities)
    except (KeyError, ValueError, TypeError, TxFormatError) as exc:
        return _bad(0, None, f"genesis: {exc}")
    except Exception as exc:  # InvalidTransaction from genesis_state
        return _bad(0, None, f"genesis: {exc}")
    if genesis_hash is not None and genesis.block_hash != genesis_hash:
        return _bad(0, None, "genesis hash differs from the pinned one")
    for key, want in (
        ("workers", g.workers),
        ("committee_size", g.committee_size),
        ("authorities", g.authorities),
        ("stakes", g.stakes),
    ):
        if key in doc and doc[key] != want:
            bad(0, None, f"export field {key!r} disagrees with the genesis block")
    counts["supply"] = state.supply
    prev = genesis
    raw_blocks = doc.get("blocks")
    if not isinstance(raw_blocks, list):
        return _bad(None, None, "'blocks' must be a list")

    def run_extra(block: Block, tx: Transaction, st: LedgerState) -> str | None:
        for chk in checks:
            try:
                why = chk(AuditContext(block, tx, st, blobs, doc))
            except Exception as exc:  # a check that crashes is a failed check
                why = f"{getattr(chk, '__name__', 'check')} raised {exc.__class__.__name__}: {exc}"
            if why:
                return why
        return None

    why = run_extra(genesis, genesis.transactions[0], state)
    if why:
        bad(0, genesis.transactions[0].tx_hash, why, "protocol")
    blocks: dict[int, Block] = {0: genesis}
    located: dict[str, Located] = {genesis.transactions[0].tx_hash: Located(
        genesis.transactions[0], 0, 0)}  # fmt: skip
    for i, raw in enumerate(raw_blocks, start=1):
        height = i
        if isinstance(raw, dict) and isinstance(raw.get("header"), dict):
            h_raw = raw["header"].get("height", i)
            height = h_raw if isinstance(h_raw, int) else i
        try:
            block = Block.from_dict(raw)
        except (TxFormatError, ValueError, TypeError) as exc:
            bad(height, None, f"malformed block: {exc}")
            continue
        try:
            new_state = check_block(
                block, prev, state, g.workers, g.committee_size, g.stakes, require_quorum=True
            )
        except InvalidBlock as exc:
            bad(block.height, exc.tx_hash, exc.reason)
            new_state = _lenient(state, block)
        blocks[block.height] = block
        for j, tx in enumerate(block.transactions):
            located[tx.tx_hash] = Located(tx, block.height, j)
        # per-tx hooks: blobs and extra checks, in order, with the state after each tx
        st = state.copy()
        for tx in block.transactions:
            if st.try_apply(tx) is not None:
                continue  # refused by the ledger rules: reported by check_block above
            if blobs is not None:
                for h in blob_refs(tx.payload):
                    try:
                        blobs.get(h)
                    except BlobError as exc:
                        bad(block.height, tx.tx_hash, str(exc), "blob")
                        continue
                    counts["blobs"] += 1
            why = run_extra(block, tx, st)
            if why:
                bad(block.height, tx.tx_hash, why, "protocol")
        state, prev = new_state, block
        counts["blocks"] += 1
        counts["transactions"] += len(block.transactions)
        counts["votes"] += len(block.votes)
        for tx in block.transactions:
            counts[f"kind:{tx.kind}"] += 1
    chain_state = state.copy()
    if "pending" in doc or "served" in doc:
        moves = chain_moves(genesis, [blocks[h] for h in sorted(blocks) if h > 0])
        pending, pending_moves, pending_problems = replay_pending(state, doc.get("pending") or [])
        problems += [p.to_dict() for p in pending_problems]
        located.update({loc.tx.tx_hash: loc for loc in pending})
        moves.update(pending_moves)
        counts["pending"] = len(pending)
        served = doc.get("served")
        if isinstance(served, dict):
            found = check_served(served, blocks=blocks, located=located, moves=moves,
                                 state=state)  # fmt: skip
            problems += [p.to_dict() for p in found]
            counts["served_rows"] = sum(len(v) for v in served.values() if isinstance(v, list))
    return report_from(
        problems,
        balances=dict(sorted(chain_state.balances.items())),
        counts=dict(counts),
        tip_hash=prev.block_hash,
        genesis_hash=genesis.block_hash,
    )
