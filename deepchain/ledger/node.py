"""A Blockwise-BA worker node (paper 4.2.5) and neighbour gossip.

``WorkerNode`` holds a worker's identity, chain, state, mempool and neighbours and runs the
protocol's steps with the rules of ``ledger.rules``: ``propose`` (as round k's leader),
``validate_and_vote`` (as a committee member), ``receive_block`` (a final block, verified
with its quorum before it is stored); ``gossip`` floods a final block through neighbours.
A node's fault behaviour (``ledger.faults``) is a strategy; honest by default.
"""

from __future__ import annotations

from collections.abc import Sequence

from deepchain.crypto.identity import Identity
from deepchain.ledger.blocks import Block, Vote, genesis_params
from deepchain.ledger.faults import behaviour_for
from deepchain.ledger.rules import (
    EquivocationEvidence,
    InvalidBlock,
    build_block,
    check_block,
    leader_for,
    select_committee,
    verify_block,
    vote,
)
from deepchain.ledger.state import LedgerState, genesis_state
from deepchain.ledger.transactions import Transaction

__all__ = ["WorkerNode", "gossip"]


# -- in-memory worker node ----------------------------------------------------------------
class WorkerNode:
    """A pure in-memory worker: identity, chain, state, mempool, neighbours and a behaviour
    for fault injection (one of ``faults.BEHAVIOURS``, run as ``self.strategy``)."""

    def __init__(
        self,
        identity: Identity,
        genesis: Block,
        *,
        behaviour: str = "honest",
        record_rejections: bool = True,
        max_block_txs: int | None = None,
    ) -> None:
        params = genesis_params(genesis)
        self.identity = identity
        self.behaviour = behaviour  # validated: sets self.strategy
        self.workers = params.workers
        self.committee_size = params.committee_size
        self.stakes = params.stakes
        self.chain: list[Block] = [genesis]
        self.state: LedgerState = genesis_state(params.allocations, params.authorities)
        self.mempool: dict[str, Transaction] = {}
        self.neighbours: list[WorkerNode] = []
        self.votes_cast: dict[tuple[int, int], str] = {}
        self.rejected_blocks: list[tuple[str, str]] = []  # (block hash, reason)
        self.evidence: list[EquivocationEvidence] = []
        self.last_rejection: str | None = None
        self.record_rejections = record_rejections
        self.max_block_txs = max_block_txs

    def __repr__(self) -> str:
        return f"WorkerNode({self.address[:8]}, {self.behaviour}, h={self.height})"

    @classmethod
    def from_chain(
        cls, identity: Identity, blocks: Sequence[Block], *, verify: bool = True, **kw: object
    ) -> WorkerNode:
        """Rebuild a node from a stored chain (blocks[0] = genesis), re-verifying each block
        (with its quorum) unless ``verify`` is False; raises InvalidBlock on a bad block.
        This is how a stateless (e.g. Celery) worker resumes from the database."""
        node = cls(identity, blocks[0], **kw)  # type: ignore[arg-type]
        for b in blocks[1:]:
            if verify:
                node.state = check_block(
                    b, node.tip, node.state, node.workers, node.committee_size, node.stakes
                )
            else:
                for tx in b.transactions:
                    node.state.apply(tx)
            node.chain.append(b)
        for b in node.chain[1:]:
            for v in b.votes:
                if v.voter == node.address:
                    node.votes_cast[(v.height, v.k)] = v.block_hash
        return node

    @property
    def behaviour(self) -> str:
        """The name of this node's fault behaviour (``faults.BEHAVIOURS``)."""
        return self.strategy.name

    @behaviour.setter
    def behaviour(self, name: str) -> None:
        self.strategy = behaviour_for(name)

    @property
    def address(self) -> str:
        return self.identity.address

    @property
    def tip(self) -> Block:
        return self.chain[-1]

    @property
    def height(self) -> int:
        return self.tip.height

    @property
    def alive(self) -> bool:
        return self.strategy.alive

    def connect(self, *others: WorkerNode) -> None:
        """Make neighbours (both directions)."""
        for o in others:
            if o is not self and o not in self.neighbours:
                self.neighbours.append(o)
            if self not in o.neighbours and o is not self:
                o.neighbours.append(self)

    def submit(self, tx: Transaction) -> str | None:
        """Admit ``tx`` to the mempool; returns None or why it was refused."""
        if not self.alive:
            return "node crashed"
        if not tx.verify_signature():
            return "bad signature"
        if tx.nonce < self.state.next_nonce(tx.sender):
            return "replayed or stale nonce"
        self.mempool.setdefault(tx.tx_hash, tx)
        return None

    def pending(self) -> list[Transaction]:
        """The mempool in proposal order (by timestamp, sender, nonce); a node backed by a
        store can override it with the store's order."""
        return sorted(self.mempool.values(), key=lambda t: (t.timestamp_ms, t.sender, t.nonce))

    # -- step: propose ---------------------------------------------------------------------
    def propose(self, k: int, now_ms: int) -> Block | None:
        """Propose the next block if this node is round k's leader (per its behaviour)."""
        if not self.strategy.proposes:
            return None
        if leader_for(self.tip, k, self.workers, self.stakes) != self.address:
            return None
        block, rejected = build_block(
            self.identity,
            self.tip,
            k,
            self.pending(),
            self.state,
            now_ms,
            record_rejections=self.record_rejections,
            max_txs=self.max_block_txs,
            evidence=self.evidence,
        )
        for tx, _reason in rejected:
            self.mempool.pop(tx.tx_hash, None)
        return self.strategy.tamper(self, block)

    # -- step: verify + vote -----------------------------------------------------------------
    def in_committee(self, block: Block) -> bool:
        hd = block.header
        committee = select_committee(
            hd.prev_hash, hd.height, hd.consensus_round, self.workers, self.committee_size
        )
        return self.address in committee

    def validate_and_vote(self, block: Block) -> list[Vote]:
        """Re-verify the proposed block against our tip/state and sign it if valid.

        Returns the votes this node casts (honest: at most one per (height, k); an
        'equivocate' node also signs a conflicting block at the same height)."""
        self.last_rejection = None
        if not self.alive:
            return []
        if not self.in_committee(block):
            self.last_rejection = "not a committee member"
            return []
        ok, reason = verify_block(
            block, self.tip, self.state, self.workers, self.committee_size, self.stakes, False
        )
        if not ok:
            self.last_rejection = reason
            self.rejected_blocks.append((block.block_hash, reason))
            return []
        key = (block.height, block.header.consensus_round)
        prior = self.votes_cast.get(key)
        if prior is not None and prior != block.block_hash and not self.strategy.revotes:
            self.last_rejection = "already voted for another block at this height and round"
            return []
        self.votes_cast[key] = block.block_hash
        return [vote(self.identity, block), *self.strategy.extra_votes(self, block)]

    # -- step: receive a final block (gossip) ------------------------------------------------
    def receive_block(self, block: Block) -> bool:
        """Verify a final block (with its quorum) and store it; True iff newly stored."""
        self.last_rejection = None
        if not self.alive:
            self.last_rejection = "node crashed"
            return False
        if any(b.block_hash == block.block_hash for b in self.chain[-3:]):
            self.last_rejection = "already stored"
            return False
        try:
            new_state = check_block(
                block, self.tip, self.state, self.workers, self.committee_size, self.stakes, True
            )
        except InvalidBlock as exc:
            self.last_rejection = exc.reason
            self.rejected_blocks.append((block.block_hash, exc.reason))
            return False
        self.chain.append(block)
        self.state = new_state
        for t in block.transactions:
            self.mempool.pop(t.tx_hash, None)
        for h, t in list(self.mempool.items()):
            if t.nonce < self.state.next_nonce(t.sender):
                del self.mempool[h]
        return True


def gossip(origin: WorkerNode, block: Block) -> dict[str, str]:
    """Flood a final block from ``origin``: each node verifies it before storing and
    forwarding to its neighbours. Returns {address: "stored" | refusal reason}."""
    result: dict[str, str] = {}
    queue = [origin]
    while queue:
        node = queue.pop(0)
        if node.address in result:
            continue
        if node.receive_block(block):
            result[node.address] = "stored"
            queue.extend(n for n in node.neighbours if n.address not in result)
        else:
            result[node.address] = node.last_rejection or "refused"
    return result
