"""Blocks: Merkle trees and proofs, genesis, and tamper detection of every block field."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.ledger.blocks import (
    EMPTY_MERKLE_ROOT,
    Block,
    _leaf,
    _node,
    genesis_params,
    make_genesis,
    merkle_proof,
    merkle_root,
    verify_merkle_proof,
)
from deepchain.ledger.rules import select_committee, verify_block
from deepchain.ledger.sim import make_network, run_consensus_round
from deepchain.ledger.transactions import TxKind, make_tx

hex32 = st.binary(min_size=32, max_size=32).map(bytes.hex)


def test_empty_and_single_leaf_roots_are_defined_and_distinct():
    a = "ab" * 32
    assert merkle_root([]) == EMPTY_MERKLE_ROOT
    assert merkle_root([a]) != a and merkle_root([a]) != EMPTY_MERKLE_ROOT


@settings(max_examples=40, deadline=None)
@given(st.lists(hex32, min_size=1, max_size=20), st.data())
def test_every_leaf_has_a_valid_proof_and_a_wrong_leaf_fails(leaves, data):
    root = merkle_root(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    proof = merkle_proof(leaves, i)
    assert verify_merkle_proof(leaves[i], proof, root)
    other = data.draw(hex32.filter(lambda h: h != leaves[i]))
    assert not verify_merkle_proof(other, proof, root)


def test_the_last_leaf_is_not_duplicated_and_order_matters():
    a, b, c = "aa" * 32, "bb" * 32, "cc" * 32
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    assert merkle_root([a, b]) != merkle_root([b, a])


def test_an_inner_node_cannot_pass_as_a_leaf():
    leaves = [f"{i:064x}" for i in range(4)]
    root = merkle_root(leaves)
    inner_left = _node(_leaf(leaves[0]), _leaf(leaves[1]))
    inner_right = _node(_leaf(leaves[2]), _leaf(leaves[3]))
    assert (
        hashlib.sha256(b"\x01deepchain/merkle/node" + inner_left + inner_right).hexdigest() == root
    )
    # second-preimage attempt: present the inner node as a leaf of a 2-leaf tree
    assert not verify_merkle_proof(inner_left.hex(), [("R", inner_right.hex())], root)
    assert merkle_root([inner_left.hex(), inner_right.hex()]) != root


def test_genesis_distributes_the_initial_deepcoin():
    net = make_network(4, n_parties=2, balance=500, worker_balance=10)
    g = genesis_params(net.genesis)
    assert sum(g.allocations.values()) == 2 * 500 + 4 * 10
    assert g.workers == sorted(n.address for n in net.nodes)
    assert net.nodes[0].state.supply == 1040
    assert Block.from_dict(net.genesis.to_dict()).block_hash == net.genesis.block_hash


def test_genesis_parameters_are_bound_into_its_hash():
    a = make_genesis({"aa" * 32: 5}, [], ["bb" * 32], 0)
    b = make_genesis({"aa" * 32: 6}, [], ["bb" * 32], 0)
    assert a.block_hash != b.block_hash


# -- tamper detection: every field of a finalized block ---------------------------------
@pytest.fixture(scope="module")
def chain():
    net = make_network(4, n_parties=2)
    p0, p1 = net.parties
    txs = [
        make_tx(p0, TxKind.TRANSFER, 1, {"to": p1.address, "amount": 5}),
        make_tx(p1, TxKind.DEPOSIT, 1, {"amount": 7}, group="g"),
        make_tx(p0, TxKind.GRADIENT, 2, {"ciphertext_blob": "ab" * 32}, group="g", round=1),
    ]
    out = run_consensus_round(net.nodes, txs, 1_000, 500)
    assert out.final, out.reason
    node = net.nodes[0]
    return net, node.chain[0], node.chain[1]


def _verify(net, prev, block_dict):
    node = net.nodes[0]
    gstate = make_network(4, n_parties=2).nodes[0].state
    return verify_block(
        Block.from_dict(block_dict), prev, gstate, node.workers, node.committee_size
    )


def _flip(s: str) -> str:
    return ("1" if s[0] != "1" else "2") + s[1:]


@pytest.mark.parametrize(
    "path,mutate,expect",
    [
        (("header", "height"), lambda v: v + 1, "height"),
        (("header", "prev_hash"), _flip, "hash link"),
        (("header", "merkle_root"), _flip, "merkle root"),
        (("header", "timestamp_ms"), lambda v: v + 1, "leader signature"),
        (("header", "leader"), _flip, "leader eligibility"),
        (("header", "consensus_round"), lambda v: v + 1, "leader"),
        (("header", "tx_count"), lambda v: v + 1, "tx_count"),
        (("leader_signature",), _flip, "leader signature"),
        (("transactions", 0, "payload", "amount"), lambda v: v + 1, "merkle root"),
        (("transactions", 1, "nonce"), lambda v: v + 1, "merkle root"),
        (("transactions", 2, "signature"), _flip, "merkle root"),
        (("votes", 0, "signature"), _flip, "vote signature"),
        (("votes", 1, "block_hash"), _flip, "another block"),
        (("votes", 2, "voter"), _flip, "not a committee member"),
    ],
)
def test_tampering_any_block_field_fails_verification_and_names_it(chain, path, mutate, expect):
    net, genesis, block = chain
    ok, reason = _verify(net, genesis, block.to_dict())
    assert ok, reason
    d = block.to_dict()
    obj = d
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = mutate(obj[path[-1]])
    ok, reason = _verify(net, genesis, d)
    assert not ok
    assert expect in reason


def test_dropping_votes_below_quorum_fails(chain):
    net, genesis, block = chain
    d = block.to_dict()
    d["votes"] = d["votes"][:2]
    ok, reason = _verify(net, genesis, d)
    assert not ok and "no quorum" in reason


def test_a_tx_with_forged_signature_is_named_even_with_a_consistent_merkle_root(chain):
    net, genesis, block = chain
    node = net.nodes[0]
    leader_id = next(n.identity for n in net.nodes if n.address == block.header.leader)
    d = block.to_dict()
    d["transactions"][0]["payload"]["amount"] = 6  # re-sign the block: leader colludes
    from deepchain.ledger.blocks import BlockHeader, sign_block

    b = Block.from_dict(d)
    h = block.header
    hdr = BlockHeader(
        h.height,
        h.prev_hash,
        merkle_root(b.tx_hashes()),
        h.timestamp_ms,
        h.leader,
        h.consensus_round,
        h.tx_count,
    )
    forged = sign_block(leader_id, hdr, b.transactions)
    ok, reason = verify_block(
        forged,
        genesis,
        make_network(4, n_parties=2).nodes[0].state,
        node.workers,
        node.committee_size,
        require_quorum=False,
    )
    assert not ok and "bad signature" in reason and b.transactions[0].tx_hash[:16] in reason
    committee = select_committee(h.prev_hash, h.height, h.consensus_round, node.workers, 4)
    assert len(committee) == 4
