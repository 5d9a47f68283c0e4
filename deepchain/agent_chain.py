"""The party agent's own view of the chain: finalized blocks it verified itself.

A party agent trusts the chain, not the platform (paper 4.2.5: a block is final once a quorum
of the committee signed it). :class:`ChainClient` downloads the blocks it has not seen yet,
in order from the genesis, and verifies each one exactly as the offline auditor does
(:func:`deepchain.ledger.rules.check_block`: hash link, Merkle root, leader eligibility
and signature, committee quorum and vote signatures, every transaction's signature, nonce and
money rule) before it reads a single transaction from it. The genesis hash is pinned on first
use in the agent's keystore (or given by the operator), so a platform that later serves
another chain, or rewrites a block the agent already verified, is caught: the agent only ever
extends the chain it verified, and a block that does not extend it raises :class:`ChainError`.

Bounded by the consensus assumption: fewer than a third of the committee's weight is
dishonest. A platform that holds a quorum of the worker keys can sign blocks of its own
choosing; what an agent then reads from them is still checked against the parties' own signed
transactions (``deepchain.agent_verify``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepchain.ledger.blocks import Block, genesis_params
from deepchain.ledger.rules import InvalidBlock, check_block
from deepchain.ledger.state import LedgerState, genesis_state
from deepchain.ledger.transactions import Transaction, TxFormatError, TxKind
from deepchain.private_files import write_private

__all__ = ["ChainClient", "ChainError", "PIN_FILE"]

#: the keystore file holding the pinned genesis hash (trust on first use)
PIN_FILE = "chain-pin.json"

#: fetch(height) -> the block documents from ``height`` on (possibly a page of them)
BlockFetcher = Callable[[int], list[dict[str, Any]]]


class ChainError(RuntimeError):
    """The blocks served are not a valid extension of the chain this agent verified."""


class ChainClient:
    """Verified finalized blocks, extended incrementally; transactions indexed by group."""

    def __init__(
        self, fetch: BlockFetcher, pin_dir: Path | None = None, genesis_hash: str | None = None
    ) -> None:
        self.fetch = fetch
        self.pin_path = None if pin_dir is None else Path(pin_dir) / PIN_FILE
        self.genesis_hash = genesis_hash
        self.blocks: list[Block] = []
        self.state: LedgerState | None = None
        self.workers: list[str] = []
        self.authorities: frozenset[str] = frozenset()
        self._committee_size = 0
        self._stakes: dict[str, int] | None = None
        self._by_group: dict[str, list[tuple[int, Transaction]]] = {}

    @property
    def height(self) -> int:
        """Height of the last verified block (-1 before the genesis)."""
        return len(self.blocks) - 1

    def sync(self) -> int:
        """Fetch and verify every new block; returns the verified height."""
        while True:
            docs = self.fetch(len(self.blocks))
            if not isinstance(docs, list):
                raise ChainError("the platform served no block list")
            for doc in docs:
                self._add(doc)
            if not docs:
                return self.height

    def _add(self, doc: Any) -> None:
        try:
            block = Block.from_dict(doc)
        except (TxFormatError, ValueError, TypeError, KeyError) as exc:
            raise ChainError(f"block {len(self.blocks)} is malformed: {exc}") from None
        if not self.blocks:
            self._add_genesis(block)
            return
        try:
            self.state = check_block(
                block, self.blocks[-1], self.state, self.workers, self._committee_size,
                self._stakes, require_quorum=True,
            )  # fmt: skip
        except InvalidBlock as exc:
            why = f"block {block.height} is not final on my chain: {exc.reason}"
            raise ChainError(why) from None
        self.blocks.append(block)
        for tx in block.transactions:
            if tx.group is not None:
                self._by_group.setdefault(tx.group, []).append((block.height, tx))

    def _add_genesis(self, block: Block) -> None:
        try:
            g = genesis_params(block)
            state = genesis_state(g.allocations, g.authorities)
        except Exception as exc:  # ValueError, InvalidTransaction: either way, not a genesis
            raise ChainError(f"the genesis block is invalid: {exc}") from None
        pinned = self.genesis_hash or self._read_pin()
        if pinned is not None and block.block_hash != pinned:
            raise ChainError(
                f"the platform serves another chain: genesis {block.block_hash[:16]} is not the "
                f"pinned {pinned[:16]}"
            )
        if pinned is None and self.pin_path is not None:
            write_private(self.pin_path, json.dumps({"genesis": block.block_hash}).encode())
        self.genesis_hash = block.block_hash
        self.workers, self.authorities = list(g.workers), frozenset(g.authorities)
        self._committee_size, self._stakes = g.committee_size, g.stakes
        self.state = state
        self.blocks.append(block)

    def _read_pin(self) -> str | None:
        if self.pin_path is None or not self.pin_path.exists():
            return None
        return str(json.loads(self.pin_path.read_text())["genesis"])

    def transactions(
        self, group: str, kind: TxKind, round_no: int | None = None
    ) -> list[Transaction]:
        """Final transactions of ``kind`` for ``group`` (and round), in chain order."""
        return [
            tx
            for _h, tx in self._by_group.get(group, [])
            if tx.kind == kind and (round_no is None or tx.round == round_no)
        ]
