"""Blockwise-BA on a real Celery worker + Redis: fault injection."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from deepchain.ledger.blocks import Block as CoreBlock
from ledger_app import selectors, services
from ledger_app.models import ConsensusAttempt, ConsensusEvent, Transaction, WorkerNode
from tests.integration import test_ledger_helpers as h

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def chain(celery_worker):
    services.bootstrap_chain()
    a, b = h.party("alice"), h.party("bob")
    h.pay(a, b, 25)
    yield a, b
    WorkerNode.objects.update(behaviour="honest")


def test_honest_nodes_finalize_a_block_and_gossip_it_to_every_node(chain):
    block = h.drive(1)
    assert block is not None and block.consensus_round == 0
    assert not Transaction.objects.filter(status="pending").exists()
    core = CoreBlock.from_dict(__import__("json").loads(block.raw))
    assert len(core.votes) >= 3
    assert all(height == 1 for _, height in h.wait_gossip(1))
    assert selectors.verify_chain().ok


@pytest.mark.parametrize(
    "fault, why",
    [
        ("forge_signature", "bad signature"),
        ("double_spend", "insufficient balance"),
        ("bad_merkle", "merkle root"),
    ],
)
def test_an_invalid_leader_is_rejected_and_replaced_and_the_chain_grows(chain, fault, why):
    bad = h.node_at(0)
    h.set_behaviour(bad, fault)
    block = h.drive(1)
    assert block is not None, "the chain must still grow"
    assert block.leader != bad.account.address
    assert block.consensus_round >= 1
    ev = ConsensusEvent.objects.filter(kind="leader_replaced", node=bad).first()
    assert ev is not None and why in ev.detail["reason"]
    assert ConsensusAttempt.objects.get(height=1, consensus_round=0).status == "invalid"
    verdict = selectors.verify_chain()
    assert verdict.ok, verdict.verdict()


def test_a_silent_leader_is_replaced_after_its_timeout(chain):
    bad = h.node_at(0)
    h.set_behaviour(bad, "silent")
    block = h.drive(1)
    assert block is not None and block.leader != bad.account.address
    ev = ConsensusEvent.objects.get(kind="leader_replaced", consensus_round=0)
    assert "silent" in ev.detail["reason"] and ev.node_id == bad.pk
    assert ConsensusAttempt.objects.get(height=1, consensus_round=0).status == "silent"


def test_a_member_signing_two_blocks_at_one_height_is_detected_and_recorded(chain):
    leader = h.node_at(0)
    member = next(n for n in h.committee_nodes(0) if n.pk != leader.pk)
    h.set_behaviour(member, "equivocate")
    assert h.drive(1) is not None
    ev = h.wait_for_event("equivocation", node=member)
    assert ev is not None
    from deepchain.ledger.blocks import Vote
    from deepchain.ledger.rules import EquivocationEvidence

    d = ev.detail["evidence"]
    evidence = EquivocationEvidence(
        d["voter"], d["height"], Vote.from_dict(d["vote_a"]), Vote.from_dict(d["vote_b"])
    )
    assert evidence.verify() and evidence.voter == member.account.address


def test_blocks_still_finalize_with_fewer_than_a_third_crashed(chain):
    leader = h.node_at(0)
    crashed = next(n for n in h.committee_nodes(0) if n.pk != leader.pk)
    h.set_behaviour(crashed, "crashed")
    block = h.drive(1)
    assert block is not None
    assert block.tx_count >= 1
    assert WorkerNode.objects.get(pk=crashed.pk).height == 0  # a crashed node stores nothing


def test_no_block_finalizes_with_a_third_or_more_crashed_and_the_api_says_why(
    chain, django_user_model
):
    leader = h.node_at(0)
    others = [n for n in h.committee_nodes(0) if n.pk != leader.pk][:2]
    for n in others:
        h.set_behaviour(n, "crashed")
    ev = h.wait_for_event("no_quorum")
    assert ev is not None
    assert ev.detail["reason"] == "2 of 4 committee members responsive, need 3"
    assert h.tip().height == 0, "safety over liveness: no block without a quorum"
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create(username="auditor"))
    status = client.get("/api/ledger/status/").json()
    assert status["height"] == 0 and status["stalled"] is True
    assert "2 of 4 committee members responsive, need 3" in status["why_no_block"]
    # the crashed nodes recover: liveness returns
    WorkerNode.objects.update(behaviour="honest")
    assert h.drive(1) is not None
