"""A small in-memory DeepChain network for tests, demos and benchmarks.

``make_network`` builds deterministic identities (from a seed), a genesis block, one
``WorkerNode`` per worker (with the requested fault behaviours) wired as neighbours.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from deepchain.crypto.identity import Identity
from deepchain.ledger.blocks import Block, make_genesis
from deepchain.ledger.consensus import WorkerNode


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
