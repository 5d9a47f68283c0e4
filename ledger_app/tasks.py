"""Celery tasks of the consensus queue: thin shims over ``ledger_app.consensus`` (ids only).

Each task runs the state-machine step of the same name with ``STEPS``, the table through
which a step enqueues the next ones after its transaction commits.
"""

from __future__ import annotations

from celery import shared_task

from ledger_app import consensus

STEPS = consensus.Steps(
    propose=lambda attempt_id: node_propose.delay(attempt_id),
    vote=lambda attempt_id, node_id: node_vote.delay(attempt_id, node_id),
    timeout=lambda attempt_id, s: attempt_timeout.apply_async((attempt_id,), countdown=s),
    gossip=lambda node_id, height: gossip_block.delay(node_id, height),
)


@shared_task(name="ledger_app.tasks.run_consensus")
def run_consensus(timeout_s: float | None = None) -> str:
    """Beat: drive the next height (see ``consensus.run_consensus``)."""
    return consensus.run_consensus(STEPS, timeout_s)


@shared_task(name="ledger_app.tasks.node_propose")
def node_propose(attempt_id: int) -> str:
    """The round's leader proposes (see ``consensus.node_propose``)."""
    return consensus.node_propose(STEPS, attempt_id)


@shared_task(name="ledger_app.tasks.node_vote")
def node_vote(attempt_id: int, node_id: int) -> str:
    """A committee member votes or refuses (see ``consensus.node_vote``)."""
    return consensus.node_vote(STEPS, attempt_id, node_id)


@shared_task(name="ledger_app.tasks.settle")
def settle(attempt_id: int) -> str:
    """Finalize or replace the leader (see ``consensus.settle``)."""
    return consensus.settle(STEPS, attempt_id)


@shared_task(name="ledger_app.tasks.attempt_timeout")
def attempt_timeout(attempt_id: int) -> str:
    """The round's timeout (see ``consensus.attempt_timeout``)."""
    return consensus.attempt_timeout(STEPS, attempt_id)


@shared_task(name="ledger_app.tasks.gossip_block")
def gossip_block(node_id: int, height: int) -> str:
    """Neighbour gossip of a final block (see ``consensus.gossip_block``)."""
    return consensus.gossip_block(STEPS, node_id, height)
