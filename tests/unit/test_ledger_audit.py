"""Standalone auditor: a clean export passes; any tampering is caught and located."""

from __future__ import annotations

import copy
import json

import pytest

from deepchain.audit.__main__ import main
from deepchain.audit.chain import audit_ledger, export_ledger
from deepchain.blobs import BlobError, BlobStore
from deepchain.ledger.sim import make_network, run_consensus_round
from deepchain.ledger.transactions import TxKind, make_tx


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    blobs = BlobStore(tmp_path_factory.mktemp("blobs"))
    net = make_network(4, n_parties=2)
    p0, p1 = net.parties
    auth = net.authority
    h_ct = blobs.put(b"ciphertext vector")
    rounds = [
        [
            make_tx(p0, TxKind.DEPOSIT, 1, {"amount": 100}, group="g"),
            make_tx(p1, TxKind.DEPOSIT, 1, {"amount": 100}, group="g"),
        ],
        [
            make_tx(p0, TxKind.GRADIENT, 2, {"ciphertext_blob": h_ct}, group="g", round=1),
            make_tx(
                auth,
                TxKind.PENALTY,
                1,
                {"party": p1.address, "amount": 100, "reason": "late"},
                group="g",
            ),
        ],
        [
            make_tx(
                auth,
                TxKind.PAYOUT,
                2,
                {"to": p0.address, "amount": 100, "source": "escrow", "reason": "payback"},
                group="g",
            ),
            make_tx(
                auth,
                TxKind.PAYOUT,
                3,
                {"to": p0.address, "amount": 100, "source": "pool", "reason": "extra pay"},
                group="g",
            ),
        ],
    ]
    for h, txs in enumerate(rounds, start=1):
        assert run_consensus_round(net.nodes, txs, h * 1000, 500).final
    return export_ledger(net.nodes[0].chain), blobs, net


def test_a_clean_ledger_audits_ok_and_rederives_balances(ledger):
    doc, blobs, net = ledger
    r = audit_ledger(doc, blobs)
    assert r.ok and r.first_bad is None, r.reason
    p0, p1 = net.parties
    assert r.balances[p0.address] == 1_100 and r.balances[p1.address] == 900
    assert "escrow:g" not in r.balances and "pool:g" not in r.balances
    assert r.counts["blocks"] == 3 and r.counts["transactions"] == 6 and r.counts["blobs"] == 1
    assert r.tip_hash == net.nodes[0].tip.block_hash
    assert sum(r.balances.values()) == r.counts["supply"]


def _tampered(doc, path, value):
    d = copy.deepcopy(doc)
    obj = d
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value(obj[path[-1]]) if callable(value) else value
    return d


@pytest.mark.parametrize(
    "path,value,block,reason",
    [
        (("blocks", 1, "header", "timestamp_ms"), lambda v: v + 1, 2, "leader signature"),
        (("blocks", 0, "header", "prev_hash"), "ab" * 32, 1, "hash link"),
        (("blocks", 2, "transactions", 1, "payload", "amount"), 99, 3, "merkle root"),
        (("blocks", 1, "votes"), lambda v: v[:2], 2, "no quorum"),
        (("blocks", 2, "votes", 0, "signature"), lambda s: s[::-1], 3, "vote signature"),
        (("genesis", "transactions", 0, "payload", "allocations"), {}, 0, "genesis"),
        (("workers",), lambda w: w[:3], 0, "workers"),
    ],
)
def test_tampering_is_caught_at_the_first_bad_block(ledger, path, value, block, reason):
    doc, blobs, _ = ledger
    r = audit_ledger(_tampered(doc, path, value), blobs)
    assert not r.ok and r.first_bad["block"] == block and reason in r.reason


def test_a_forged_tx_is_named_by_hash_when_the_leader_re_signs(ledger):
    doc, _, net = ledger
    from deepchain.ledger.blocks import Block, BlockHeader, merkle_root, sign_block

    b = Block.from_dict(
        _tampered(doc, ("blocks", 0, "transactions", 0, "payload", "amount"), 999)["blocks"][0]
    )
    h = b.header
    leader = net.node(h.leader).identity
    hdr = BlockHeader(
        h.height,
        h.prev_hash,
        merkle_root(b.tx_hashes()),
        h.timestamp_ms,
        h.leader,
        h.consensus_round,
        h.tx_count,
    )
    d = copy.deepcopy(doc)
    d["blocks"][0] = sign_block(leader, hdr, b.transactions).with_votes(b.votes).to_dict()
    r = audit_ledger(d)
    # the old votes no longer match the re-signed block
    assert not r.ok and r.first_bad["block"] == 1 and "another block" in r.reason


def test_a_missing_or_corrupted_blob_fails_the_audit(ledger, tmp_path):
    doc, blobs, _ = ledger
    r = audit_ledger(doc, BlobStore(tmp_path / "empty"))
    assert not r.ok and r.first_bad["block"] == 2 and r.first_bad["tx"] and "missing" in r.reason
    (h,) = [
        t["payload"]["ciphertext_blob"]
        for t in doc["blocks"][1]["transactions"]
        if t["kind"] == "gradient"
    ]
    store = BlobStore(tmp_path / "bad")
    store.path(h).parent.mkdir(parents=True)
    store.path(h).write_bytes(b"substituted")
    with pytest.raises(BlobError):
        store.get(h)
    r = audit_ledger(doc, store)
    assert not r.ok and "does not match" in r.reason


def test_extra_checks_plug_in_and_name_the_transaction(ledger):
    doc, _, _ = ledger

    def no_gradients(ctx):
        return "gradient proof invalid" if ctx.tx.kind == TxKind.GRADIENT else None

    r = audit_ledger(doc, extra_checks=[no_gradients])
    assert not r.ok and r.first_bad["block"] == 2 and r.reason == "gradient proof invalid"
    grad = next(t for t in doc["blocks"][1]["transactions"] if t["kind"] == "gradient")
    from deepchain.ledger.transactions import Transaction

    assert r.first_bad["tx"] == Transaction.from_dict(grad).tx_hash


def test_pinned_genesis_hash_is_enforced(ledger):
    doc, _, net = ledger
    assert audit_ledger(doc, genesis_hash=net.genesis.block_hash).ok
    assert not audit_ledger(doc, genesis_hash="00" * 32).ok


def test_blob_store_round_trips_and_is_content_addressed(tmp_path):
    s = BlobStore(tmp_path)
    h = s.put(b"abc")
    assert s.put(b"abc") == h and s.has(h) and s.get(h) == b"abc"
    assert not s.has("ff" * 32) and not s.has("nope")
    with pytest.raises(BlobError):
        s.get("ff" * 32)


def test_cli_exit_codes(ledger, tmp_path, capsys):
    doc, blobs, _ = ledger
    good = tmp_path / "good.json"
    good.write_text(json.dumps(doc))
    assert main([str(good), "--blobs", str(blobs.root)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_tampered(doc, ("blocks", 0, "header", "merkle_root"), "ab" * 32)))
    assert main([str(bad)]) == 1
    assert "FAIL at block 1" in capsys.readouterr().out
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert main([str(junk)]) == 2
    assert main([str(tmp_path / "absent.json")]) == 2


@pytest.mark.parametrize("bad_block", [None, 5, {"header": "x"}, {"header": {}, "votes": []}])
def test_malformed_blocks_fail_cleanly_with_their_position(ledger, bad_block):
    doc, _, _ = ledger
    d = copy.deepcopy(doc)
    d["blocks"][1] = bad_block
    r = audit_ledger(d)
    assert not r.ok and r.first_bad == {"block": 2, "tx": None} and "malformed" in r.reason
