"""Blockwise-BA on Celery workers (paper 4.2.5): the consensus state machine.

One height is driven as a small state machine stored in the database, so any number of
Celery processes can run the steps and every step is idempotent. Each step below is run by
the task of the same name in ``ledger_app.tasks`` (queue ``consensus``), which passes the
``Steps`` that enqueue the next ones (so this module never imports its tasks):

- ``run_consensus`` (beat): if transactions are pending and no attempt is open at the next
  height, open consensus round k=0 (``ConsensusAttempt``, unique on (height, k)); a Redis lock
  keeps two beats from even trying at once.
- ``node_propose``: the round's leader (``select_leader(prev_hash, h, k, workers)``) loads its
  key from its keystore file and builds the block from the pending transactions (in id order)
  replayed against the chain state; its fault behaviour applies (silent/crashed: nothing).
- ``node_vote``: each committee member re-verifies every transaction against the replayed
  state and signs a vote (or records its refusal); ``settle`` finalizes with > 2c/3 votes
  (append Block, confirm txs) or replaces an invalid leader as soon as quorum is impossible.
- ``attempt_timeout`` (eta = timeout): a silent leader is replaced, too few responsive members
  is recorded as ``no_quorum``; either way round k+1 opens with the next leader.
- ``gossip_block``: a node verifies a final block (with its quorum) before storing it
  (WorkerNode.height) and forwards it to its neighbours.

Why a round failed is decided by the core's one rule, ``ledger.rules.classify_failed_round``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deepchain.canonical import canonical_json
from deepchain.ledger.blocks import Block as CoreBlock
from deepchain.ledger.blocks import Vote, genesis_params
from deepchain.ledger.node import WorkerNode as CoreNode
from deepchain.ledger.rules import (
    InvalidBlock,
    check_block,
    classify_failed_round,
    detect_equivocation,
    finalize,
    select_committee,
    select_leader,
)
from deepchain.ledger.rules import quorum as quorum_of
from deepchain.ledger.state import LedgerState, genesis_state
from deepchain.ledger.transactions import Transaction as CoreTx
from ledger_app import services
from ledger_app.models import (
    Block,
    ConsensusAttempt,
    ConsensusEvent,
    ConsensusVote,
    Transaction,
    WorkerNode,
)


@dataclass(frozen=True)
class Steps:
    """How the state machine enqueues its next steps (ids only; called after commit)."""

    propose: Callable[[int], object]  # attempt id
    vote: Callable[[int, int], object]  # attempt id, node id
    timeout: Callable[[int, float], object]  # attempt id, seconds from now
    gossip: Callable[[int, int], object]  # node id, height


log = logging.getLogger(__name__)


def consensus_timeout_s() -> float:
    return float(getattr(settings, "DEEPCHAIN_CONSENSUS_TIMEOUT_S", 5.0))


def max_block_txs() -> int:
    return int(getattr(settings, "DEEPCHAIN_MAX_BLOCK_TXS", 500))


# -- the replayed chain (cached per process, extended incrementally) --------------------------
_CACHE: dict = {}


def chain_view(upto: int | None = None) -> tuple[list[CoreBlock], LedgerState]:
    """Blocks 0..upto (default: the tip) and the state after them, each block re-verified
    (hash link, Merkle root, leader, quorum, transactions) when first loaded."""
    index = list(Block.objects.order_by("height").values_list("height", "block_hash"))
    if upto is not None:
        index = index[: upto + 1]
    hashes = [h for _, h in index]
    cached = _CACHE.get("hashes", [])
    blocks: list[CoreBlock] = []
    state: LedgerState | None = None
    if cached and len(cached) <= len(hashes) and hashes[: len(cached)] == cached:
        blocks, state = list(_CACHE["blocks"]), _CACHE["state"].copy()
    start = len(blocks)
    for row in Block.objects.filter(height__gte=start, height__lt=len(hashes)).order_by("height"):
        b = CoreBlock.from_dict(json.loads(row.raw))
        if not blocks:
            g = genesis_params(b)
            state = genesis_state(g.allocations, g.authorities)
        else:
            g = genesis_params(blocks[0])
            state = check_block(b, blocks[-1], state, g.workers, g.committee_size, g.stakes)
        blocks.append(b)
    if upto is None or len(hashes) >= len(cached):
        _CACHE.update(hashes=hashes, blocks=list(blocks), state=state.copy())
    return blocks, state


class DbNode(CoreNode):
    """The core in-memory worker, seeded with the stored chain; its mempool is the pending
    Transaction rows in id order (the order their row locks serialized them)."""

    ordered: list[CoreTx]

    def pending(self) -> list[CoreTx]:
        return [t for t in self.ordered if t.tx_hash in self.mempool]


def _node_view(node: WorkerNode, blocks: list[CoreBlock], state: LedgerState) -> DbNode:
    dn = DbNode(
        services.node_identity(node.name), blocks[0], behaviour=node.behaviour,
        record_rejections=False, max_block_txs=max_block_txs(),
    )  # fmt: skip
    dn.chain = list(blocks)
    dn.state = state.copy()
    dn.ordered = []
    return dn


def _event(kind: str, height: int, k: int, node: WorkerNode | None = None, **detail) -> None:
    ConsensusEvent.objects.create(
        height=height, consensus_round=k, kind=kind, node=node, detail=detail
    )


def _params():
    blocks, _ = chain_view()
    return genesis_params(blocks[0])


# -- opening a consensus round -----------------------------------------------------------------
def open_attempt(steps: Steps, height: int, k: int, prev_hash: str, timeout_s: float) -> int | None:
    """Open consensus round k at ``height`` (idempotent: unique (height, k)); enqueue the
    leader's proposal and the round's timeout."""
    tip = Block.objects.order_by("-height").first()
    if tip is None or tip.height != height - 1 or tip.block_hash != prev_hash:
        return None  # the chain moved on (or was reset): nothing to do
    g = _params()
    leader_pk = select_leader(prev_hash, height, k, g.workers, g.stakes)
    committee = select_committee(prev_hash, height, k, g.workers, g.committee_size)
    leader = WorkerNode.objects.get(account__address=leader_pk)
    try:
        with transaction.atomic():
            att = ConsensusAttempt.objects.create(
                height=height, consensus_round=k, prev_hash=prev_hash, leader=leader,
                committee=committee, quorum=quorum_of(len(committee)), timeout_s=timeout_s,
                deadline=timezone.now() + timedelta(seconds=timeout_s),
            )  # fmt: skip
            transaction.on_commit(lambda: steps.propose(att.id))
            transaction.on_commit(lambda: steps.timeout(att.id, timeout_s))
    except IntegrityError:
        return None
    return att.id


def _redis():
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def run_consensus(steps: Steps, timeout_s: float | None = None) -> str:
    """Beat task: drive the next height (open round 0, or the next round after a failed one,
    or close an expired round whose timer was lost). A Redis lock + the unique (height, k)
    keep two beats from driving the same round twice."""
    tip = Block.objects.order_by("-height").first()
    if tip is None:
        return "no genesis"
    key = f"deepchain:consensus-lock:{settings.DATABASES['default']['NAME']}"
    r = _redis()
    if not r.set(key, "1", nx=True, px=10_000):
        return "busy"
    try:
        h = tip.height + 1
        last = ConsensusAttempt.objects.filter(height=h).order_by("-consensus_round").first()
        t = timeout_s if timeout_s is not None else consensus_timeout_s()
        if last is None:
            if not Transaction.objects.filter(status=Transaction.Status.PENDING).exists():
                return "idle"
            return f"opened {open_attempt(steps, h, 0, tip.block_hash, t)}"
        if last.status == ConsensusAttempt.Status.OPEN:
            if timezone.now() > last.deadline + timedelta(seconds=last.timeout_s):
                attempt_timeout(steps, last.id)  # its timer was lost (worker restart): close it now
            return "open"
        if last.status != ConsensusAttempt.Status.FINAL:
            return f"opened {open_attempt(steps, h, last.consensus_round + 1, tip.block_hash, t)}"
        return "final"
    finally:
        r.delete(key)


def _close(
    steps: Steps, att: ConsensusAttempt, status: str, reason: str, *, reopen: bool = True
) -> None:
    """Close an open attempt (caller holds its row lock) and open round k+1 after commit."""
    att.status, att.reason, att.closed_at = status, reason, timezone.now()
    att.save(update_fields=["status", "reason", "closed_at"])
    max_rounds = int(getattr(settings, "DEEPCHAIN_CONSENSUS_AUTO_ROUNDS", 0)) or 2 * len(
        att.committee
    )
    if reopen and att.consensus_round + 1 < max_rounds:
        h, k, prev, t = att.height, att.consensus_round + 1, att.prev_hash, att.timeout_s
        transaction.on_commit(lambda: open_attempt(steps, h, k, prev, t))


# -- leader -----------------------------------------------------------------------------------
def node_propose(steps: Steps, attempt_id: int) -> str:
    """The leader's step: build, sign and store the proposal, then ask the committee."""
    att = ConsensusAttempt.objects.select_related("leader").filter(pk=attempt_id).first()
    if att is None or att.status != ConsensusAttempt.Status.OPEN or att.proposal:
        return "nothing to do"
    node = att.leader
    if node.behaviour in (WorkerNode.Behaviour.SILENT, WorkerNode.Behaviour.CRASHED):
        return f"{node.behaviour}: no proposal"
    blocks, state = chain_view()
    if blocks[-1].block_hash != att.prev_hash:
        return "stale"
    rows = list(
        Transaction.objects.filter(status=Transaction.Status.PENDING).order_by("id")[
            : max_block_txs()
        ]
    )
    pending = [CoreTx.from_dict(json.loads(t.raw)) for t in rows]
    dn = _node_view(node, blocks, state)
    dn.ordered = pending
    dn.mempool = {t.tx_hash: t for t in pending}
    block = dn.propose(att.consensus_round, max(services.now_ms(), blocks[-1].header.timestamp_ms))
    if block is None:
        return "not the leader"
    included = set(block.tx_hashes())
    probe = state.copy()
    deferred = {}
    for t in pending:
        if t.tx_hash in included:
            probe.try_apply(t)
        else:
            deferred[t.tx_hash] = probe.try_apply(t) or "not included"
    raw = canonical_json(block.to_dict()).decode()
    with transaction.atomic():
        n = ConsensusAttempt.objects.filter(
            pk=att.pk, proposal="", status=ConsensusAttempt.Status.OPEN
        ).update(proposal=raw, block_hash=block.block_hash)
        if not n:
            return "already proposed"
        _event("proposal", att.height, att.consensus_round, node, block_hash=block.block_hash,
               tx_count=len(block.transactions))  # fmt: skip
        if deferred and node.behaviour == WorkerNode.Behaviour.HONEST:
            _event("tx_deferred", att.height, att.consensus_round, node,
                   txs={h[:16]: r for h, r in list(deferred.items())[:20]})  # fmt: skip
        members = list(
            WorkerNode.objects.filter(account__address__in=att.committee).values_list(
                "id", flat=True
            )
        )
        transaction.on_commit(lambda: [steps.vote(att.pk, m) for m in members])
    return f"proposed {block.block_hash[:16]} with {len(block.transactions)} txs"


# -- committee --------------------------------------------------------------------------------
def node_vote(steps: Steps, attempt_id: int, node_id: int) -> str:
    """A committee member's step: re-verify the proposal, vote or refuse, then settle."""
    att = ConsensusAttempt.objects.filter(pk=attempt_id).first()
    node = WorkerNode.objects.select_related("account").filter(pk=node_id).first()
    if att is None or node is None or not att.proposal:
        return "nothing to do"
    if node.behaviour == WorkerNode.Behaviour.CRASHED:
        return "crashed: no answer"
    if ConsensusVote.objects.filter(attempt=att, node=node).exists():
        return "already answered"
    # a late answer (the round already closed) is still recorded: it may be evidence
    blocks, state = chain_view()
    if blocks[-1].block_hash != att.prev_hash:
        blocks, state = chain_view(att.height - 1)
        if blocks[-1].block_hash != att.prev_hash:
            return "stale"
    block = CoreBlock.from_dict(json.loads(att.proposal))
    dn = _node_view(node, blocks, state)
    votes = dn.validate_and_vote(block)
    try:
        with transaction.atomic():
            if votes:
                for v in votes:
                    ConsensusVote.objects.create(
                        attempt=att, node=node, block_hash=v.block_hash, accepted=True,
                        raw=canonical_json(v.to_dict()).decode(),
                    )  # fmt: skip
            else:
                ConsensusVote.objects.create(
                    attempt=att, node=node, block_hash=block.block_hash, accepted=False,
                    reason=dn.last_rejection or "refused",
                )  # fmt: skip
            _check_equivocation(att, node)
    except IntegrityError:
        return "already answered"
    settle(steps, attempt_id)
    return f"voted {len(votes)}" if votes else f"refused: {dn.last_rejection}"


def _check_equivocation(att: ConsensusAttempt, node: WorkerNode) -> None:
    signed = [
        Vote.from_dict(json.loads(v.raw))
        for v in ConsensusVote.objects.filter(
            attempt__height=att.height, attempt__consensus_round=att.consensus_round,
            node=node, accepted=True,
        ).order_by("id")
    ]  # fmt: skip
    for ev in detect_equivocation(signed):
        if not ev.verify():
            continue
        exists = ConsensusEvent.objects.filter(
            kind="equivocation", height=att.height, consensus_round=att.consensus_round, node=node
        ).exists()
        if not exists:
            _event("equivocation", att.height, att.consensus_round, node, evidence=ev.to_dict())


def _locked_open_attempt(attempt_id: int) -> ConsensusAttempt | None:
    """The attempt, row-locked (inside the caller's transaction), or None if it is closed."""
    att = (
        ConsensusAttempt.objects.select_for_update()
        .select_related("leader")
        .filter(pk=attempt_id)
        .first()
    )
    return att if att is not None and att.status == ConsensusAttempt.Status.OPEN else None


def settle(steps: Steps, attempt_id: int) -> str:
    """Finalize with > 2c/3 valid votes, or replace the leader once quorum is impossible."""
    with transaction.atomic():
        att = _locked_open_attempt(attempt_id)
        if att is None:
            return "closed"
        block = CoreBlock.from_dict(json.loads(att.proposal))
        answers = list(ConsensusVote.objects.filter(attempt=att).select_related("node"))
        votes = [Vote.from_dict(json.loads(v.raw)) for v in answers if v.accepted]
        final = finalize(block, votes, att.committee)
        if final is not None:
            tip = Block.objects.order_by("-height").first()
            if tip.block_hash != att.prev_hash:
                _close(
                    steps, att, ConsensusAttempt.Status.STALE, "the chain moved on", reopen=False
                )
                return "stale"
            services.append_block(block=final)
            att.status, att.closed_at = ConsensusAttempt.Status.FINAL, timezone.now()
            att.reason = f"{len(final.votes)}/{len(att.committee)} committee votes"
            att.save(update_fields=["status", "closed_at", "reason"])
            _event("block_final", att.height, att.consensus_round, att.leader,
                   block_hash=final.block_hash, votes=len(final.votes),
                   committee=len(att.committee), tx_count=len(final.transactions))  # fmt: skip
            leader_id, h = att.leader_id, att.height
            transaction.on_commit(lambda: steps.gossip(leader_id, h))
            return "final"
        refusals = [a for a in answers if not a.accepted]
        refusers = len({a.node_id for a in refusals})
        responsive = len({a.node_id for a in answers})
        if classify_failed_round(len(att.committee), responsive, refusers, closed=False):
            why = f"leader {att.leader.name} proposed an invalid block: {refusals[0].reason}"
            _close(steps, att, ConsensusAttempt.Status.INVALID, why)
            _event("leader_replaced", att.height, att.consensus_round, att.leader, reason=why,
                   refusals={a.node.name: a.reason for a in refusals})  # fmt: skip
            return "invalid"
    return "waiting"


def attempt_timeout(steps: Steps, attempt_id: int) -> str:
    """The round's timeout: a silent leader is replaced; too few answers is a no_quorum."""
    with transaction.atomic():
        att = _locked_open_attempt(attempt_id)
        if att is None:
            return "closed"
        name = att.leader.name
        if not att.proposal:
            why = f"leader {name} silent for {att.timeout_s:g} s"
            _close(steps, att, ConsensusAttempt.Status.SILENT, why)
            _event("leader_replaced", att.height, att.consensus_round, att.leader, reason=why)
            return "silent"
        answers = list(ConsensusVote.objects.filter(attempt=att))
        responders = {a.node_id for a in answers}
        refusals = [a for a in answers if not a.accepted]
        c, q = len(att.committee), att.quorum
        if classify_failed_round(c, len(responders), len(refusals), closed=True) == "invalid":
            why = f"leader {name} proposed an invalid block: {refusals[0].reason}"
            _close(steps, att, ConsensusAttempt.Status.INVALID, why)
            _event("leader_replaced", att.height, att.consensus_round, att.leader, reason=why)
            return "invalid"
        why = f"{len(responders)} of {c} committee members responsive, need {q}"
        _close(steps, att, ConsensusAttempt.Status.NO_QUORUM, why)
        _event("no_quorum", att.height, att.consensus_round, att.leader, reason=why,
               responsive=len(responders), committee=c, quorum=q)  # fmt: skip
        return "no_quorum"


# -- gossip -----------------------------------------------------------------------------------
def gossip_block(steps: Steps, node_id: int, height: int) -> str:
    """Neighbour gossip: verify every block this node lacks up to ``height`` (with quorum)
    before storing it, then forward to the neighbours that lack it."""
    node = WorkerNode.objects.filter(pk=node_id).first()
    if node is None or node.behaviour == WorkerNode.Behaviour.CRASHED:
        return "crashed"
    if node.height >= height:
        return "already stored"
    blocks, state = chain_view(node.height)
    g = genesis_params(blocks[0])
    for row in Block.objects.filter(height__gt=node.height, height__lte=height).order_by("height"):
        b = CoreBlock.from_dict(json.loads(row.raw))
        try:
            state = check_block(b, blocks[-1], state, g.workers, g.committee_size, g.stakes)
        except InvalidBlock as exc:
            _event("gossip_refused", row.height, b.header.consensus_round, node, reason=exc.reason)
            return f"refused: {exc.reason}"
        blocks.append(b)
    WorkerNode.objects.filter(pk=node.pk, height__lt=height).update(height=height)
    targets = list(node.neighbours.filter(height__lt=height).values_list("id", flat=True))
    for t in targets:
        steps.gossip(t, height)
    return f"stored up to {height}, forwarded to {len(targets)}"
