"""Blockwise-BA with in-memory worker nodes: leader/committee selection, fault injection,
equivocation evidence, crash tolerance (f < c/3) and safety (f >= c/3), gossip."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.ledger.blocks import Block
from deepchain.ledger.node import WorkerNode, gossip
from deepchain.ledger.rules import (
    collect_votes,
    detect_equivocation,
    finalize,
    is_final,
    leader_for,
    propose_block,
    quorum,
    select_committee,
    select_leader,
    vote,
)
from deepchain.ledger.sim import make_network, run_consensus_round
from deepchain.ledger.transactions import TxKind, make_tx


def payment(net, i: int, nonce: int, amount: int = 1):
    a, b = net.parties[i % len(net.parties)], net.parties[(i + 1) % len(net.parties)]
    return make_tx(a, TxKind.TRANSFER, nonce, {"to": b.address, "amount": amount})


def leader_index(net, k: int) -> int:
    tip = net.nodes[0].tip
    pk = leader_for(tip, k, net.nodes[0].workers)
    return next(i for i, n in enumerate(net.nodes) if n.address == pk)


def net_with_leader_behaving(behaviour: str, n: int = 4) -> tuple:
    """A network where the k=0 leader of height 1 has ``behaviour``."""
    probe = make_network(n)
    i = leader_index(probe, 0)
    net = make_network(n, behaviours={i: behaviour})
    return net, i


def test_quorum_is_more_than_two_thirds():
    assert [quorum(c) for c in (1, 2, 3, 4, 5, 6, 7, 10)] == [1, 2, 3, 3, 4, 5, 5, 7]


def test_leader_and_committee_are_deterministic_and_vary_with_k():
    ws = [f"{i:064x}" for i in range(10)]
    assert select_leader("aa", 1, 0, ws) == select_leader("aa", 1, 0, list(reversed(ws)))
    assert len({select_leader("aa", 1, k, ws) for k in range(20)}) > 3
    c0 = select_committee("aa", 1, 0, ws, 4)
    assert len(c0) == 4 == len(set(c0)) and c0 == select_committee("aa", 1, 0, ws[::-1], 4)
    assert c0 != select_committee("aa", 1, 1, ws, 4)


def test_stake_weighted_leader_follows_stake():
    ws = [f"{i:064x}" for i in range(3)]
    stakes = {ws[0]: 98, ws[1]: 1, ws[2]: 1}
    picks = [select_leader("bb", h, 0, ws, stakes) for h in range(300)]
    assert picks.count(ws[0]) > 250
    assert select_leader("bb", 1, 0, ws, {ws[2]: 5}) == ws[2]


def test_honest_network_finalizes_and_all_nodes_agree():
    net = make_network(4)
    for h in range(1, 4):
        out = run_consensus_round(net.nodes, [payment(net, h, 1)], h * 1000, 500)
        assert out.final and out.k == 0 and out.height == h, out.reason
        assert set(out.gossip.values()) == {"stored"}
    tips = {n.tip.block_hash for n in net.nodes}
    assert len(tips) == 1 and net.nodes[0].height == 3
    assert len({n.state.digest() for n in net.nodes}) == 1


@pytest.mark.parametrize(
    "behaviour,why",
    [
        ("forge_signature", "bad signature"),
        ("double_spend", "insufficient balance"),
        ("bad_merkle", "merkle root"),
    ],
)
def test_an_invalid_leader_is_rejected_replaced_and_the_chain_grows(behaviour, why):
    net, bad = net_with_leader_behaving(behaviour)
    tx = payment(net, 0, 1)
    out = run_consensus_round(net.nodes, [tx], 1_000, 500)
    assert out.final, out.reason
    assert out.attempts[0].status == "invalid" and why in out.attempts[0].reason
    assert out.attempts[0].leader == net.nodes[bad].address
    assert out.k >= 1 and out.block.header.leader != net.nodes[bad].address
    assert tx.tx_hash in out.block.tx_hashes()
    assert all(n.height == 1 for n in net.nodes)
    honest = [n for n in net.nodes if n.behaviour == "honest"]
    assert all(any(why in r for _, r in n.rejected_blocks) for n in honest)
    # nobody lost money to the bad leader: only the honest payment moved
    st = honest[0].state
    assert [st.balance(p.address) for p in net.parties] == [999, 1_001, 1_000]
    assert st.balance(net.nodes[bad].address) == 100
    # and the chain keeps growing
    out2 = run_consensus_round(net.nodes, [payment(net, 1, 1)], 2_000, 500)
    assert out2.final and all(n.height == 2 for n in net.nodes)


def test_a_silent_leader_is_replaced_after_its_timeout():
    net, bad = net_with_leader_behaving("silent")
    out = run_consensus_round(net.nodes, [payment(net, 0, 1)], 1_000, 750)
    assert out.final
    assert out.attempts[0].status == "silent" and "750 ms" in out.attempts[0].reason
    assert out.k >= 1 and out.elapsed_ms >= 750
    assert out.block.header.timestamp_ms >= 1_000 + 750 * out.k
    assert net.nodes[bad].height == 1  # a silent leader still follows the chain


def test_equivocating_committee_member_is_detected_with_verifiable_evidence():
    net = make_network(4, behaviours={2: "equivocate"})
    out = run_consensus_round(net.nodes, [payment(net, 0, 1)], 1_000, 500)
    assert out.final  # 3 honest votes still reach quorum
    assert len(out.evidence) == 1
    ev = out.evidence[0]
    assert ev.voter == net.nodes[2].address and ev.height == 1 and ev.verify()
    assert ev.vote_a.block_hash != ev.vote_b.block_hash
    assert all(ev in n.evidence for n in net.nodes if n.alive)


def test_detect_equivocation_ignores_honest_and_unsigned_votes():
    net = make_network(4)
    n0 = net.nodes[0]
    b = propose_block(n0.identity, n0.tip, 0, [], n0.state, 5)
    b2 = propose_block(n0.identity, n0.tip, 0, [], n0.state, 6)
    v1, v2 = vote(net.nodes[1].identity, b), vote(net.nodes[1].identity, b2)
    assert detect_equivocation([v1, v1, vote(net.nodes[2].identity, b)]) == []
    forged = type(v2)(v2.voter, v2.block_hash, v2.height, v2.k, "00" * 64)
    assert detect_equivocation([v1, forged]) == []
    assert len(detect_equivocation([v1, v2])) == 1


@pytest.mark.parametrize("crashed", [(1,), (0,), (5,)])
def test_fewer_than_a_third_crashed_still_finalizes(crashed):
    net = make_network(7, behaviours={i: "crashed" for i in crashed})
    for h in range(1, 3):
        out = run_consensus_round(net.nodes, [payment(net, h, 1)], h * 1000, 500)
        assert out.final, out.reason
        assert len(out.block.votes) >= quorum(7)
    assert all(n.height == 2 for n in net.nodes if n.alive)
    assert all(n.height == 0 for n in net.nodes if not n.alive)


@pytest.mark.parametrize("n,crashed", [(4, (0, 1)), (7, (0, 1, 2)), (3, (2,))])
def test_a_third_or_more_crashed_finalizes_nothing_and_says_why(n, crashed):
    net = make_network(n, behaviours={i: "crashed" for i in crashed})
    out = run_consensus_round(net.nodes, [payment(net, 0, 1)], 1_000, 500, max_rounds=6)
    assert not out.final and out.block is None
    alive = n - len(crashed)
    assert f"no quorum: {alive} of {n} committee members responsive, need {quorum(n)}" in out.reason
    assert all(n_.height == 0 for n_ in net.nodes)


def test_committee_smaller_than_worker_set_still_needs_its_own_quorum():
    net = make_network(7, committee_size=4)
    out = run_consensus_round(net.nodes, [payment(net, 0, 1)], 1_000, 500)
    assert out.final
    committee = out.attempts[-1].committee
    assert len(committee) == 4 and {v.voter for v in out.block.votes} <= set(committee)
    assert is_final(out.block, committee)
    assert all(n.height == 1 for n in net.nodes)


def test_gossip_reaches_the_whole_ring_and_a_neighbour_refuses_a_tampered_block():
    net = make_network(5, topology="ring")
    out = run_consensus_round(net.nodes, [payment(net, 0, 1)], 1_000, 500)
    assert out.final and all(v == "stored" for v in out.gossip.values())
    assert len(out.gossip) == 5
    # a malicious node forwards a tampered copy of the next final block
    out2_net = make_network(5, topology="ring")
    n0 = out2_net.nodes[0]
    tx = payment(out2_net, 0, 1)
    leader = out2_net.node(leader_for(n0.tip, 0, n0.workers))
    block = propose_block(leader.identity, leader.tip, 0, [tx], leader.state, 1_000)
    committee = select_committee(block.header.prev_hash, 1, 0, n0.workers, n0.committee_size)
    votes = [vote(out2_net.node(m).identity, block) for m in committee]
    final = finalize(block, votes, committee)
    assert final is not None
    d = final.to_dict()
    d["transactions"][0]["payload"]["amount"] = 999
    tampered = Block.from_dict(d)
    nb = n0.neighbours[0]
    res = gossip(nb, tampered)
    assert res == {nb.address: "merkle root does not match the transactions"}
    assert nb.height == 0 and (tampered.block_hash, res[nb.address]) in nb.rejected_blocks
    # while the genuine block spreads to everyone
    assert set(gossip(nb, final).values()) == {"stored"}


def test_a_block_without_quorum_is_refused_by_gossip():
    net = make_network(4)
    n0 = net.nodes[0]
    leader = net.node(leader_for(n0.tip, 0, n0.workers))
    block = propose_block(leader.identity, leader.tip, 0, [], leader.state, 10)
    two = [vote(net.nodes[i].identity, block) for i in range(2)]
    assert finalize(block, two, n0.workers) is None
    res = gossip(n0, block.with_votes(two))
    assert "no quorum" in res[n0.address] and n0.height == 0


def test_step_functions_compose_like_run_consensus_round():
    """The same steps a distributed (Celery) driver calls one at a time."""
    net = make_network(4)
    tx = payment(net, 0, 1)
    for n in net.nodes:
        assert n.submit(tx) is None
    tip = net.nodes[0].tip
    leader = net.node(leader_for(tip, 0, net.nodes[0].workers))
    block = leader.propose(0, 1_000)
    assert block is not None and block.tx_hashes() == [tx.tx_hash]
    committee = select_committee(tip.block_hash, 1, 0, leader.workers, leader.committee_size)
    votes = [v for m in committee for v in net.node(m).validate_and_vote(block)]
    assert len(collect_votes(block, votes, committee)) == 4
    final = finalize(block, votes, committee)
    assert final is not None and is_final(final, committee)
    assert set(gossip(leader, final).values()) == {"stored"}
    assert all(n.mempool == {} for n in net.nodes)


def test_an_honest_node_votes_once_per_height_and_round():
    net = make_network(4)
    n0 = net.nodes[0]
    leader = net.node(leader_for(n0.tip, 0, n0.workers))
    a = propose_block(leader.identity, leader.tip, 0, [], leader.state, 10)
    b = propose_block(leader.identity, leader.tip, 0, [], leader.state, 11)
    assert len(n0.validate_and_vote(a)) == 1
    assert n0.validate_and_vote(b) == [] and "already voted" in n0.last_rejection


def test_invalid_mempool_txs_are_recorded_as_rejections():
    net = make_network(4)
    overdraft = payment(net, 0, 1, amount=10**9)
    out = run_consensus_round(net.nodes, [overdraft], 1_000, 500)
    assert out.final
    (rec,) = out.block.transactions
    assert rec.kind == TxKind.REJECTION and rec.sender == out.block.header.leader
    assert rec.payload["tx_hash"] == overdraft.tx_hash
    assert "insufficient balance" in rec.payload["reason"]


def test_replayed_tx_is_refused_by_mempool_and_by_block_verification():
    net = make_network(4)
    tx = payment(net, 0, 1)
    assert run_consensus_round(net.nodes, [tx], 1_000, 500).final
    assert net.nodes[0].submit(tx) == "replayed or stale nonce"
    n0 = net.nodes[0]
    leader = net.node(leader_for(n0.tip, 0, n0.workers))
    from deepchain.ledger.blocks import BlockHeader, merkle_root, sign_block

    h = BlockHeader(2, n0.tip.block_hash, merkle_root([tx.tx_hash]), 2_000, leader.address, 0, 1)
    replay_block = sign_block(leader.identity, h, [tx])
    assert n0.validate_and_vote(replay_block) == []
    assert "replayed" in n0.last_rejection


def test_random_faults_never_fork_the_honest_nodes():
    rng = random.Random(7)
    kinds = ["forge_signature", "double_spend", "bad_merkle", "silent", "equivocate"]
    net = make_network(7, behaviours={1: rng.choice(kinds), 4: rng.choice(kinds)})
    nonce = 1
    for h in range(1, 6):
        out = run_consensus_round(net.nodes, [payment(net, 0, nonce)], h * 1000, 500, rng=rng)
        assert out.final, out.reason
        nonce += 1
    honest = [n for n in net.nodes if n.behaviour == "honest"]
    assert len({n.tip.block_hash for n in honest}) == 1 and honest[0].height == 5


def test_unknown_behaviour_is_refused():
    net = make_network(1)
    with pytest.raises(ValueError):
        WorkerNode(net.nodes[0].identity, net.genesis, behaviour="byzantine-ish")


def test_equivocation_evidence_is_recorded_on_chain_once_and_audits():
    from deepchain.audit.chain import audit_ledger, export_ledger
    from deepchain.ledger.state import equivocation_key

    net = make_network(4, behaviours={2: "equivocate"})
    out = run_consensus_round(net.nodes, [payment(net, 0, 1)], 1_000, 500)
    assert out.final and len(out.evidence) == 1
    out2 = run_consensus_round(net.nodes, [payment(net, 1, 1)], 2_000, 500)
    assert out2.final
    recs = [t for t in out2.block.transactions if t.kind == TxKind.EQUIVOCATION]
    assert len(recs) == 1 and recs[0].payload["voter"] == net.nodes[2].address
    key = equivocation_key(recs[0].payload)
    assert key in net.nodes[0].state.equivocations
    # each misbehaviour (voter, height, k) is recorded exactly once
    for h in range(3, 5):
        assert run_consensus_round(net.nodes, [], h * 1_000, 500).final
    recorded = [
        equivocation_key(t.payload)
        for b in net.nodes[0].chain
        for t in b.transactions
        if t.kind == TxKind.EQUIVOCATION
    ]
    assert len(recorded) == len(set(recorded)) >= 3
    report = audit_ledger(export_ledger(net.nodes[0].chain))
    assert report.ok and report.counts["kind:equivocation"] == len(recorded)


def test_forged_equivocation_evidence_is_rejected():
    from deepchain.ledger.rules import EquivocationEvidence
    from deepchain.ledger.transactions import InvalidTransaction

    net = make_network(4)
    n0, n1 = net.nodes[0], net.nodes[1]
    a = propose_block(n0.identity, n0.tip, 0, [], n0.state, 5)
    b = propose_block(n0.identity, n0.tip, 0, [], n0.state, 6)
    va = vote(n1.identity, a)
    vb_forged = type(va)(va.voter, b.block_hash, va.height, va.k, va.signature)
    ev = EquivocationEvidence(n1.address, 1, va, vb_forged)
    assert not ev.verify()
    tx = ev.as_transaction(n0.identity, 1)
    with pytest.raises(InvalidTransaction, match="bad vote signature"):
        n0.state.copy().apply(tx)


def test_a_node_rebuilt_from_the_stored_chain_matches_and_keeps_going():
    net = make_network(4)
    for h in range(1, 3):
        assert run_consensus_round(net.nodes, [payment(net, h, 1)], h * 1000, 500).final
    blocks = [Block.from_dict(b.to_dict()) for b in net.nodes[1].chain]
    fresh = WorkerNode.from_chain(net.nodes[1].identity, blocks)
    assert fresh.state.digest() == net.nodes[1].state.digest()
    nodes = [fresh if n is net.nodes[1] else n for n in net.nodes]
    for n in nodes:
        n.neighbours = [m for m in nodes if m is not n]
    out = run_consensus_round(nodes, [payment(net, 0, 1)], 5_000, 500)
    assert out.final and fresh.height == 3
    assert out.to_dict()["final"] is True
    d = blocks[1].to_dict()
    d["header"]["timestamp_ms"] += 1
    with pytest.raises(Exception, match="leader signature"):
        WorkerNode.from_chain(fresh.identity, [blocks[0], Block.from_dict(d)])


def test_stake_weighted_network_elects_by_stake_and_finalizes():
    net = make_network(4, stakes={0: 0, 1: 0, 2: 10, 3: 0})
    for h in range(1, 4):
        out = run_consensus_round(net.nodes, [payment(net, h, 1)], h * 1000, 500)
        assert out.final and out.block.header.leader == net.nodes[2].address


@settings(max_examples=8, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(-2, 1_500), st.integers(-1, 1)),
        max_size=12,
    )
)
def test_chain_supply_and_audit_hold_under_random_mempools(ops):
    from deepchain.audit.chain import audit_ledger, export_ledger

    net = make_network(4, behaviours={3: "double_spend"})
    n0 = net.nodes[0]
    txs = []
    for i, j, amount, skew in ops:
        a, b = net.parties[i], net.parties[j]
        nonce = max(
            0, n0.state.next_nonce(a.address) + skew + sum(t.sender == a.address for t in txs)
        )
        txs.append(make_tx(a, TxKind.TRANSFER, nonce, {"to": b.address, "amount": amount}))
    for h in range(1, 3):
        out = run_consensus_round(net.nodes, txs if h == 1 else [], h * 1000, 500)
        assert out.final, out.reason
    honest = [n for n in net.nodes if n.behaviour == "honest"]
    assert len({n.state.digest() for n in honest}) == 1
    st_ = honest[0].state
    assert sum(st_.balances.values()) == st_.supply == 3_400
    report = audit_ledger(export_ledger(honest[0].chain))
    assert report.ok and sum(report.balances.values()) == 3_400
