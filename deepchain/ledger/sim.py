"""An in-process Blockwise-BA network for tests, demos and benchmarks.

``make_network`` builds deterministic identities (from a seed), a genesis block, one
``WorkerNode`` per worker (with the requested fault behaviours) wired as neighbours;
``run_consensus_round`` drives one height over such nodes (leader, committee votes, gossip),
composing the same steps the distributed driver (``ledger_app.consensus``) runs as tasks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from deepchain.crypto.identity import Identity
from deepchain.ledger.blocks import Block, Vote, make_genesis
from deepchain.ledger.node import WorkerNode, gossip
from deepchain.ledger.rules import (
    EquivocationEvidence,
    classify_failed_round,
    collect_votes,
    detect_equivocation,
    finalize,
    quorum,
    select_committee,
    select_leader,
)
from deepchain.ledger.transactions import Transaction

__all__ = [
    "Attempt",
    "ConsensusOutcome",
    "Network",
    "identity",
    "make_network",
    "run_consensus_round",
]


@dataclass
class Network:
    genesis: Block
    nodes: list[WorkerNode]
    parties: list[Identity]
    authority: Identity

    def node(self, address: str) -> WorkerNode:
        return next(n for n in self.nodes if n.address == address)

    @property
    def honest(self) -> list[WorkerNode]:
        return [n for n in self.nodes if n.behaviour == "honest"]


def identity(label: str, seed: int = 0) -> Identity:
    """Deterministic identity for a label (tests and demos only)."""
    return Identity.from_seed(f"deepchain-sim/{seed}/{label}".encode().ljust(32, b"."))


def make_network(
    n_workers: int = 4,
    *,
    behaviours: dict[int, str] | None = None,
    committee_size: int | None = None,
    n_parties: int = 3,
    balance: int = 1_000,
    worker_balance: int = 100,
    stakes: dict[int, int] | None = None,
    topology: str = "full",
    seed: int = 0,
    rng: random.Random | None = None,
) -> Network:
    """Workers 0..n-1 (behaviour per index, default honest), parties with ``balance`` each.

    ``topology``: "full" (everyone neighbours everyone), "ring", or "random" (ring plus
    random chords drawn from ``rng``)."""
    workers = [identity(f"worker{i}", seed) for i in range(n_workers)]
    parties = [identity(f"party{i}", seed) for i in range(n_parties)]
    authority = identity("authority", seed)
    alloc = {p.address: balance for p in parties}
    alloc.update({w.address: worker_balance for w in workers})
    genesis = make_genesis(
        alloc,
        [authority.address],
        [w.address for w in workers],
        0,
        committee_size=committee_size,
        stakes={workers[i].address: s for i, s in stakes.items()} if stakes else None,
    )
    behaviours = behaviours or {}
    nodes = [
        WorkerNode(w, genesis, behaviour=behaviours.get(i, "honest")) for i, w in enumerate(workers)
    ]
    if topology == "full":
        for a in nodes:
            a.connect(*nodes)
    else:
        for i, a in enumerate(nodes):
            a.connect(nodes[(i + 1) % len(nodes)])
        if topology == "random":
            r = rng or random.Random(seed)
            for a in nodes:
                a.connect(r.choice(nodes))
    return Network(genesis, nodes, parties, authority)


# -- one full height ------------------------------------------------------------------------
@dataclass
class Attempt:
    """One consensus round k at a height: who led and what happened."""

    k: int
    leader: str
    status: str  # "final" | "silent" | "invalid" | "no_quorum"
    reason: str
    votes: int = 0
    committee: list[str] = field(default_factory=list)
    block_hash: str | None = None


@dataclass
class ConsensusOutcome:
    """Result of ``run_consensus_round``: the final block or why none finalized."""

    final: bool
    height: int
    block: Block | None
    k: int | None
    reason: str
    attempts: list[Attempt]
    evidence: list[EquivocationEvidence]
    gossip: dict[str, str]
    elapsed_ms: int

    def to_dict(self) -> dict:
        """JSON-able summary (for an API/dashboard saying why a height did not finalize)."""
        return {
            "final": self.final,
            "height": self.height,
            "block_hash": self.block.block_hash if self.block else None,
            "k": self.k,
            "reason": self.reason,
            "attempts": [
                {
                    "k": a.k,
                    "leader": a.leader,
                    "status": a.status,
                    "reason": a.reason,
                    "votes": a.votes,
                    "committee": a.committee,
                    "block_hash": a.block_hash,
                }
                for a in self.attempts
            ],
            "evidence": [e.to_dict() for e in self.evidence],
            "gossip": self.gossip,
            "elapsed_ms": self.elapsed_ms,
        }


def run_consensus_round(
    nodes: Sequence[WorkerNode],
    mempool_txs: Iterable[Transaction] = (),
    now_ms: int = 0,
    timeout_ms: int = 1000,
    *,
    max_rounds: int | None = None,
    rng: random.Random | None = None,
) -> ConsensusOutcome:
    """One Blockwise-BA height over in-memory ``nodes`` (all at the same tip).

    Broadcast ``mempool_txs``; for k = 0, 1, ...: the round-k leader proposes (a silent one
    times out after ``timeout_ms``), the committee verifies and votes, and a block with more
    than 2c/3 valid votes is final and gossiped from the leader. Otherwise k+1 with a new
    leader, up to ``max_rounds`` (default 2 x workers). ``rng`` only shuffles vote order."""
    alive = [n for n in nodes if n.alive]
    if not alive:
        return ConsensusOutcome(False, -1, None, None, "no live worker", [], [], {}, 0)
    for tx in mempool_txs:
        for n in alive:
            n.submit(tx)
    ref = max(alive, key=lambda n: n.height)
    prev = ref.tip
    height = prev.height + 1
    workers, cs, stakes = ref.workers, ref.committee_size, ref.stakes
    by_addr = {n.address: n for n in nodes}
    rounds = max_rounds if max_rounds is not None else 2 * len(workers)
    attempts: list[Attempt] = []
    all_votes: list[Vote] = []
    evidence: list[EquivocationEvidence] = []
    for k in range(rounds):
        t_k = now_ms + k * timeout_ms
        leader = select_leader(prev.block_hash, height, k, workers, stakes)
        lnode = by_addr.get(leader)
        block = (
            lnode.propose(k, t_k)
            if lnode is not None and lnode.tip.block_hash == prev.block_hash
            else None
        )
        if block is None:
            attempts.append(
                Attempt(k, leader, "silent", f"leader {leader[:8]} silent for {timeout_ms} ms")
            )
            continue
        committee = select_committee(prev.block_hash, height, k, workers, cs)
        q = quorum(len(committee))
        members = [by_addr[m] for m in committee if m in by_addr and by_addr[m].alive]
        if rng is not None:
            rng.shuffle(members)
        votes: list[Vote] = []
        refusals: list[str] = []
        for m in members:
            vs = m.validate_and_vote(block)
            votes.extend(vs)
            if not vs and m.last_rejection:
                refusals.append(m.last_rejection)
        all_votes.extend(votes)
        new_ev = [
            e for e in detect_equivocation(all_votes) if all(e.voter != x.voter for x in evidence)
        ]
        evidence.extend(new_ev)
        for n in alive:
            n.evidence.extend(new_ev)
        final = finalize(block, votes, committee)
        if final is not None:
            origin = lnode if lnode is not None and lnode.alive else members[0]
            spread = gossip(origin, final)
            attempts.append(
                Attempt(k, leader, "final", "ok", len(final.votes), committee, final.block_hash)
            )
            return ConsensusOutcome(
                True,
                height,
                final,
                k,
                f"final at height {height}, round {k}, {len(final.votes)}/{len(committee)} votes",
                attempts,
                evidence,
                spread,
                k * timeout_ms,
            )
        n_valid = len(collect_votes(block, votes, committee))
        status = classify_failed_round(len(committee), len(members), len(refusals), closed=True)
        if status == "invalid":
            why = f"leader {leader[:8]} proposed an invalid block: {refusals[0]}"
        else:
            why = (
                f"no quorum: {len(members)} of {len(committee)} committee members responsive, "
                f"need {q}"
            )
            if refusals:
                why += f" (refusals: {refusals[0]})"
        attempts.append(Attempt(k, leader, status, why, n_valid, committee, block.block_hash))
    reasons = "; ".join(dict.fromkeys(a.reason for a in attempts if a.status != "silent"))
    if not reasons:
        reasons = "every leader was silent"
    return ConsensusOutcome(
        False,
        height,
        None,
        None,
        f"no block finalized at height {height} after {rounds} consensus rounds: {reasons}",
        attempts,
        evidence,
        {},
        rounds * timeout_ms,
    )
