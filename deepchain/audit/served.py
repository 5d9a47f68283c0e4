"""What the platform serves, checked against the canonical signed bytes (no Django).

The platform's database keeps, beside each block's and transaction's canonical bytes, columns
it serves from (API, explorer, wallets): a transaction's kind, sender, payload, status, ...,
a block's header fields, every wallet history row (LedgerEntry) and every account's balance
and nonce. The export (``served`` and ``pending`` keys) carries those copies; this module
re-derives each of them from the chain and reports every copy that differs, naming its row.

Export keys (all optional; absent keys are not checked)::

    "pending": [<canonical tx>, ...]                 mempool, in the order it was admitted
    "served": {
      "blocks": [{"height", "block_hash", "prev_hash", "merkle_root", "timestamp_ms",
                  "leader", "consensus_round", "tx_count"}, ...],
      "transactions": [{"tx_hash", "kind", "sender", "nonce", "group", "round", "phase",
                        "payload", "status", "reason", "block", "index"}, ...],
      "entries": [{"id", "account", "delta", "balance_after", "tx"}, ...],
      "accounts": [{"address", "balance", "nonce"}, ...],
    }

Re-derived: every money move of every transaction (genesis allocations, chain order, then
the pending mempool in order) gives one entry (-amount for the source, +amount for the
destination); each account's entries, in id order, must add up step by step to their
``balance_after`` and end at the account's balance, which must equal the chain's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deepchain.ledger.blocks import Block, genesis_params
from deepchain.ledger.state import LedgerState
from deepchain.ledger.transactions import Transaction, TxFormatError, TxKind

TX_FIELDS = ("kind", "sender", "nonce", "group", "round", "phase", "payload")
HEADER_FIELDS = ("block_hash", "prev_hash", "merkle_root", "timestamp_ms", "leader",
                 "consensus_round", "tx_count")  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """One failed check, naming where: a block height, a transaction hash and/or a row."""

    reason: str
    block: int | None = None
    tx: str | None = None
    row: str | None = None  # "<table>:<key>", e.g. "ledger_entry:17", "account:ab12..."
    check: str = "ledger"

    def to_dict(self) -> dict[str, Any]:
        return {"block": self.block, "tx": self.tx, "row": self.row, "check": self.check,
                "reason": self.reason}  # fmt: skip

    def __str__(self) -> str:
        where = [w for w in (
            f"block {self.block}" if self.block is not None else "",
            f"tx {self.tx}" if self.tx else "",
            f"row {self.row}" if self.row else "",
        ) if w]  # fmt: skip
        return f"{', '.join(where) or 'ledger'}: [{self.check}] {self.reason}"


@dataclass(frozen=True)
class Located:
    """A transaction as the chain has it: its block (None: pending) and index there."""

    tx: Transaction
    block: int | None
    index: int | None


def _tx_view(tx: Transaction) -> dict[str, Any]:
    d = tx.to_dict()
    return {"kind": str(tx.kind), "sender": tx.sender, "nonce": tx.nonce,
            "group": tx.group or "", "round": tx.round, "phase": tx.phase or "",
            "payload": d["payload"]}  # fmt: skip


def _moves(state: LedgerState, tx: Transaction) -> list[tuple[str, int]]:
    """(account, delta) of each balance change of ``tx`` (state before it), in order."""
    out: list[tuple[str, int]] = []
    for src, dst, amount in state.moves(tx):
        out += [(src, -amount), (dst, amount)]
    return out


def replay_pending(
    state: LedgerState, pending: Iterable[Any]
) -> tuple[list[Located], dict[str, list[tuple[str, int]]], list[Problem]]:
    """Apply the mempool in order to ``state`` (mutated): the parsed transactions, the moves
    of each, and a problem for each one that is malformed or invalid on replay."""
    located: list[Located] = []
    moves: dict[str, list[tuple[str, int]]] = {}
    problems: list[Problem] = []
    for i, raw in enumerate(pending):
        try:
            tx = Transaction.from_dict(raw)
        except (TxFormatError, TypeError, ValueError, KeyError) as exc:
            problems.append(Problem(f"pending transaction #{i} malformed: {exc}", check="pending"))
            continue
        try:
            mv = _moves(state, tx)
        except Exception as exc:  # noqa: BLE001 - InvalidTransaction or a malformed field
            problems.append(Problem(f"pending transaction invalid on replay: {exc}",
                                    tx=tx.tx_hash, check="pending"))  # fmt: skip
            continue
        state.apply(tx)
        located.append(Located(tx, None, None))
        moves[tx.tx_hash] = mv
    return located, moves, problems


def chain_moves(genesis: Block, blocks: Iterable[Block]) -> dict[str, list[tuple[str, int]]]:
    """The balance changes of every transaction of a verified chain, by tx hash."""
    g = genesis_params(genesis)
    out: dict[str, list[tuple[str, int]]] = {
        genesis.transactions[0].tx_hash: list(g.allocations.items())
    }
    st = LedgerState({a: b for a, b in g.allocations.items() if b}, {}, sum(
        g.allocations.values()), set(g.authorities))  # fmt: skip
    for b in blocks:
        for tx in b.transactions:
            try:
                out[tx.tx_hash] = _moves(st, tx)
                st.apply(tx)
            except Exception:  # noqa: BLE001 - reported by the chain audit itself
                out[tx.tx_hash] = []
    return out


def check_served(
    served: Mapping[str, Any],
    *,
    blocks: Mapping[int, Block],
    located: Mapping[str, Located],
    moves: Mapping[str, list[tuple[str, int]]],
    state: LedgerState,
) -> list[Problem]:
    """Every served copy against the chain (+ pending mempool) and the derived ``state``."""
    problems: list[Problem] = []
    problems += _check_blocks(served.get("blocks"), blocks)
    problems += _check_transactions(served.get("transactions"), located)
    problems += _check_entries(served.get("entries"), moves)
    problems += _check_accounts(served.get("accounts"), served.get("entries"), state)
    return problems


def _check_blocks(rows: Any, blocks: Mapping[int, Block]) -> list[Problem]:
    out: list[Problem] = []
    for row in rows or []:
        h = row.get("height")
        b = blocks.get(h)
        if b is None:
            out.append(Problem("served block is not in the chain", block=h, row=f"block:{h}",
                               check="served"))  # fmt: skip
            continue
        want = {"block_hash": b.block_hash, **{k: getattr(b.header, k) for k in HEADER_FIELDS
                                               if k != "block_hash"}}  # fmt: skip
        for k, v in want.items():
            if row.get(k) != v:
                why = f"served {k} {row.get(k)!r} differs from the signed block's {v!r}"
                out.append(Problem(why, block=h, row=f"block:{h}", check="served"))
    return out


def _check_transactions(rows: Any, located: Mapping[str, Located]) -> list[Problem]:
    out: list[Problem] = []
    rejections: dict[str, list[dict]] = {}
    for loc in located.values():
        if loc.tx.kind == TxKind.REJECTION and isinstance(loc.tx.payload.get("tx_hash"), str):
            rejections.setdefault(loc.tx.payload["tx_hash"], []).append(loc.tx.payload)
    for row in rows or []:
        h = row.get("tx_hash")
        where = {"tx": h, "row": f"transaction:{h}", "check": "served"}
        loc = located.get(h)
        status = row.get("status")
        if status == "rejected":
            if loc is not None:
                out.append(Problem("served as rejected but the chain holds it", **where))
            for rec in rejections.get(h, []):
                if rec.get("reason") != str(row.get("reason", ""))[:500]:
                    out.append(Problem("served refusal reason differs from its on-chain "
                                       "REJECTION record", **where))  # fmt: skip
            continue
        if loc is None:
            out.append(Problem(f"served as {status} but neither the chain nor the mempool "
                               "holds it", **where))  # fmt: skip
            continue
        want_status = "pending" if loc.block is None else "confirmed"
        if status != want_status:
            out.append(Problem(f"served status {status!r}, the chain says {want_status!r}",
                               block=loc.block, **where))  # fmt: skip
        if (row.get("block"), row.get("index")) != (loc.block, loc.index):
            why = (
                f"served position (block {row.get('block')}, index {row.get('index')}) "
                f"differs from the chain's (block {loc.block}, index {loc.index})"
            )
            out.append(Problem(why, block=loc.block, **where))
        for k, v in _tx_view(loc.tx).items():
            if row.get(k) != v:
                out.append(Problem(f"served {k} differs from the signed transaction's",
                                   block=loc.block, **where))  # fmt: skip
    return out


def _check_entries(rows: Any, moves: Mapping[str, list[tuple[str, int]]]) -> list[Problem]:
    if rows is None:
        return []
    out: list[Problem] = []
    by_tx: dict[str | None, list[dict]] = {}
    for row in rows:
        by_tx.setdefault(row.get("tx"), []).append(row)
    for h, entries in by_tx.items():
        want = Counter(moves.get(h, [])) if h is not None else Counter()
        got = Counter((e.get("account"), e.get("delta")) for e in entries)
        if got == want:
            continue
        extra, missing = got - want, want - got
        bad = [e for e in entries if (e.get("account"), e.get("delta")) in extra]
        for e in bad or entries[:1]:
            out.append(Problem(
                f"wallet entry {e.get('delta'):+} for {str(e.get('account'))[:24]} is not a "
                f"move of its transaction (the chain moves: "
                f"{_fmt(moves.get(h, []))})" if h is not None else
                "wallet entry with no transaction", tx=h, row=f"ledger_entry:{e.get('id')}",
                check="wallet",
            ))  # fmt: skip
        if missing and not bad:
            out.append(Problem(f"missing wallet entries {_fmt(list(missing.elements()))}", tx=h,
                               check="wallet"))  # fmt: skip
    for h, mv in moves.items():
        if mv and h not in by_tx:
            out.append(Problem(f"no wallet entries for its moves {_fmt(mv)}", tx=h,
                               check="wallet"))  # fmt: skip
    return out


def _fmt(moves: list[tuple[str, int]]) -> str:
    return ", ".join(f"{str(a)[:16]} {d:+}" for a, d in moves) or "nothing"


def _check_accounts(rows: Any, entries: Any, state: LedgerState) -> list[Problem]:
    if rows is None:
        return []
    out: list[Problem] = []
    history: dict[str, list[dict]] = {}
    for e in sorted(entries or [], key=lambda e: e.get("id") or 0):
        history.setdefault(e.get("account"), []).append(e)
    seen = set()
    for row in rows:
        a = row.get("address")
        seen.add(a)
        where = {"row": f"account:{a}", "check": "wallet"}
        want = state.balances.get(a, 0)
        if row.get("balance") != want:
            out.append(Problem(f"balance of {str(a)[:24]}: database {row.get('balance')}, "
                               f"chain {want}", **where))  # fmt: skip
        if "nonce" in row and row["nonce"] != state.nonces.get(a, 0):
            out.append(Problem(f"nonce of {str(a)[:24]}: database {row['nonce']}, chain "
                               f"{state.nonces.get(a, 0)}", **where))  # fmt: skip
        running = 0
        for e in history.get(a, []):
            running += e.get("delta") or 0
            if e.get("balance_after") != running:
                out.append(Problem(f"wallet history of {str(a)[:24]}: balance_after "
                                   f"{e.get('balance_after')}, entries add up to {running}",
                                   tx=e.get("tx"), row=f"ledger_entry:{e.get('id')}",
                                   check="wallet"))  # fmt: skip
                running = e.get("balance_after") or 0  # one report per broken step
        if entries is not None and history.get(a) and running != row.get("balance"):
            out.append(Problem(f"wallet history of {str(a)[:24]} ends at {running}, the "
                               f"balance served is {row.get('balance')}", **where))  # fmt: skip
    for a, b in sorted(state.balances.items()):
        if b and a not in seen:
            out.append(Problem(f"the chain gives {str(a)[:24]} {b} but no account row serves it",
                               row=f"account:{a}", check="wallet"))  # fmt: skip
    return out
