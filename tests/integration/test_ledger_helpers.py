"""Helpers for the ledger integration tests (real Celery worker, real keys); no tests here."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model

from deepchain.ledger.rules import select_committee, select_leader
from deepchain.ledger.transactions import TxKind
from ledger_app import services, tasks
from ledger_app.models import Account, Block, ConsensusEvent, WorkerNode

TIMEOUT_S = 1.0  # short consensus timeout for tests


def party(name: str, grant: int = 1_000) -> Account:
    user = get_user_model().objects.create(username=name)
    return services.create_party_account(user=user, grant=grant)


def pay(src: Account, dst: Account, amount: int):
    return services.move_money(
        source=src.address, destination=dst.address, amount=amount, kind=TxKind.TRANSFER,
        reason="test transfer", signer=services.party_identity(src),
    )  # fmt: skip


def tip() -> Block:
    return Block.objects.order_by("-height").first()


def node_at(k: int, role: str = "leader") -> WorkerNode:
    """The WorkerNode that leads consensus round k of the next height."""
    g = services.genesis_block().transactions[0].payload
    t = tip()
    pk = select_leader(t.block_hash, t.height + 1, k, list(g["workers"]), None)
    return WorkerNode.objects.get(account__address=pk)


def committee_nodes(k: int = 0) -> list[WorkerNode]:
    g = services.genesis_block().transactions[0].payload
    t = tip()
    c = select_committee(t.block_hash, t.height + 1, k, list(g["workers"]), g["committee_size"])
    return [WorkerNode.objects.get(account__address=a) for a in c]


def set_behaviour(node: WorkerNode, behaviour: str) -> None:
    WorkerNode.objects.filter(pk=node.pk).update(behaviour=behaviour)


def drive(height: int, wait_s: float = 40.0) -> Block | None:
    """Kick the beat task (as Celery beat would) until a block at ``height`` is final."""
    deadline = time.monotonic() + wait_s
    last_kick = 0.0
    while time.monotonic() < deadline:
        b = Block.objects.filter(height=height).first()
        if b is not None:
            return b
        if time.monotonic() - last_kick > TIMEOUT_S:
            tasks.run_consensus.delay(timeout_s=TIMEOUT_S)
            last_kick = time.monotonic()
        time.sleep(0.1)
    return None


def wait_for_event(kind: str, wait_s: float = 30.0, **filters) -> ConsensusEvent | None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        e = ConsensusEvent.objects.filter(kind=kind, **filters).first()
        if e is not None:
            return e
        tasks.run_consensus.delay(timeout_s=TIMEOUT_S)
        time.sleep(0.3)
    return None


def wait_gossip(height: int, wait_s: float = 15.0) -> list[tuple[str, int]]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        live = WorkerNode.objects.exclude(behaviour="crashed")
        if all(n.height >= height for n in live):
            break
        time.sleep(0.1)
    return list(WorkerNode.objects.order_by("name").values_list("name", "height"))
