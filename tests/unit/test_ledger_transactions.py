"""Transactions and the money state: signatures, nonces (replay), double spend, supply."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.incentives.money import escrow_account as escrow
from deepchain.incentives.money import pool_account as pool
from deepchain.ledger.sim import identity
from deepchain.ledger.state import LedgerState, genesis_state
from deepchain.ledger.transactions import (
    InvalidTransaction,
    Transaction,
    TxFormatError,
    TxKind,
    blob_refs,
    make_rejection,
    make_tx,
)

ALICE, BOB, CAROL, AUTH = (identity(x) for x in ("alice", "bob", "carol", "auth"))


def fresh() -> LedgerState:
    return genesis_state({ALICE.address: 100, BOB.address: 50}, [AUTH.address])


def transfer(sender, nonce, to, amount, **kw) -> Transaction:
    return make_tx(sender, TxKind.TRANSFER, nonce, {"to": to.address, "amount": amount}, **kw)


def test_a_signed_transaction_verifies_and_round_trips():
    tx = transfer(ALICE, 1, BOB, 5, group="g", round=2, phase="t1", timestamp_ms=7)
    assert tx.verify_signature()
    back = Transaction.from_dict(tx.to_dict())
    assert back == tx and back.tx_hash == tx.tx_hash and back.verify_signature()


@pytest.mark.parametrize(
    "field,value",
    [
        ("kind", "deposit"),
        ("sender", "ab" * 32),
        ("nonce", 2),
        ("payload", {"to": "cd" * 32, "amount": 5}),
        ("group", "other"),
        ("round", 3),
        ("phase", "t2"),
        ("timestamp_ms", 8),
    ],
)
def test_tampering_any_signed_field_breaks_the_signature(field, value):
    tx = transfer(ALICE, 1, BOB, 5, group="g", round=2, phase="t1", timestamp_ms=7)
    d = tx.to_dict()
    d[field] = value
    tampered = Transaction.from_dict(d)
    assert tampered.tx_hash != tx.tx_hash
    assert not tampered.verify_signature()


def test_tampering_the_signature_changes_the_hash_and_fails():
    tx = transfer(ALICE, 1, BOB, 5)
    d = tx.to_dict()
    d["signature"] = ("0" if d["signature"][0] != "0" else "1") + d["signature"][1:]
    t2 = Transaction.from_dict(d)
    assert t2.tx_hash != tx.tx_hash and not t2.verify_signature()


def test_from_dict_is_strict():
    d = transfer(ALICE, 1, BOB, 5).to_dict()
    with pytest.raises(TxFormatError):
        Transaction.from_dict({**d, "extra": 1})
    missing = dict(d)
    del missing["nonce"]
    with pytest.raises(TxFormatError):
        Transaction.from_dict(missing)
    with pytest.raises(TxFormatError):
        Transaction.from_dict({**d, "kind": "mint"})
    with pytest.raises(TxFormatError):
        Transaction.from_dict({**d, "nonce": True})
    with pytest.raises(TxFormatError):
        Transaction.from_dict({**d, "payload": {"x": float("nan")}})
    assert issubclass(TxFormatError, ValueError)


def test_payload_is_immutable_so_cached_hashes_stay_honest():
    tx = transfer(ALICE, 1, BOB, 5)
    with pytest.raises(TypeError):
        tx.payload["amount"] = 10**6
    with pytest.raises(dataclasses.FrozenInstanceError):
        tx.nonce = 9


def test_only_the_sender_can_sign():
    tx = Transaction(TxKind.TRANSFER, ALICE.address, 1, {"to": BOB.address, "amount": 1})
    with pytest.raises(ValueError):
        tx.signed(BOB)


def test_a_valid_transfer_moves_money_and_bumps_the_nonce():
    s = fresh()
    s.apply(transfer(ALICE, 1, BOB, 30))
    assert s.balance(ALICE.address) == 70 and s.balance(BOB.address) == 80
    assert s.nonces[ALICE.address] == 1 and s.next_nonce(ALICE.address) == 2


def test_a_replayed_transaction_is_rejected():
    s = fresh()
    tx = transfer(ALICE, 1, BOB, 30)
    s.apply(tx)
    with pytest.raises(InvalidTransaction, match="replayed"):
        s.apply(tx)
    assert s.balance(BOB.address) == 80


def test_out_of_order_nonce_is_rejected():
    with pytest.raises(InvalidTransaction, match="out of order"):
        fresh().apply(transfer(ALICE, 2, BOB, 1))


def test_forged_signature_is_rejected_and_state_unchanged():
    s = fresh()
    unsigned = Transaction(TxKind.TRANSFER, ALICE.address, 1, {"to": BOB.address, "amount": 99})
    forged = dataclasses.replace(unsigned, signature=BOB.sign(unsigned.signing_bytes()).hex())
    before = s.digest()
    with pytest.raises(InvalidTransaction, match="bad signature") as ei:
        s.apply(forged)
    assert ei.value.tx_hash == forged.tx_hash
    assert s.digest() == before


def test_double_spend_is_rejected():
    s = fresh()
    s.apply(transfer(ALICE, 1, BOB, 60))
    with pytest.raises(InvalidTransaction, match="insufficient balance"):
        s.apply(transfer(ALICE, 2, CAROL, 60))
    assert s.balance(ALICE.address) == 40 and s.balance(CAROL.address) == 0
    assert s.next_nonce(ALICE.address) == 2  # the failed tx consumed no nonce


@pytest.mark.parametrize("amount", [0, -5, True, 1.5, "10"])
def test_amounts_must_be_positive_integers(amount):
    with pytest.raises(InvalidTransaction, match="positive integer"):
        fresh().apply(transfer(ALICE, 1, BOB, amount))


def test_deposit_penalty_payout_flow_and_authority_rules():
    s = fresh()
    s.apply(make_tx(ALICE, TxKind.DEPOSIT, 1, {"amount": 40}, group="g"))
    assert s.balance(escrow("g")) == 40
    pen = {"party": ALICE.address, "amount": 15, "reason": "late gradient"}
    with pytest.raises(InvalidTransaction, match="authority"):
        s.apply(make_tx(BOB, TxKind.PENALTY, 1, pen, group="g"))
    s.apply(make_tx(AUTH, TxKind.PENALTY, 1, pen, group="g"))
    assert s.balance(escrow("g")) == 25 and s.balance(pool("g")) == 15
    pay = {"to": BOB.address, "amount": 15, "source": "pool", "reason": "extra pay"}
    s.apply(make_tx(AUTH, TxKind.PAYOUT, 2, pay, group="g"))
    back = {"to": ALICE.address, "amount": 26, "source": "escrow", "reason": "payback"}
    with pytest.raises(InvalidTransaction, match="insufficient"):
        s.apply(make_tx(AUTH, TxKind.PAYOUT, 3, back, group="g"))
    s.apply(make_tx(AUTH, TxKind.PAYOUT, 3, {**back, "amount": 25}, group="g"))
    assert s.balance(ALICE.address) == 85 and s.balance(BOB.address) == 65
    assert s.balance(escrow("g")) == 0 and s.supply == 150


def test_group_kinds_need_a_group_and_genesis_kind_is_refused():
    with pytest.raises(InvalidTransaction, match="group"):
        fresh().apply(make_tx(ALICE, TxKind.DEPOSIT, 1, {"amount": 1}))
    with pytest.raises(InvalidTransaction, match="genesis"):
        fresh().apply(make_tx(ALICE, TxKind.GENESIS, 1, {}))


def test_a_rejection_records_the_refused_tx_and_its_reason():
    s = fresh()
    bad = transfer(ALICE, 1, BOB, 10**9)
    reason = s.try_apply(bad)
    assert reason and "insufficient" in reason
    rec = make_rejection(BOB, 1, bad, reason)
    s.apply(rec)
    assert rec.payload["tx_hash"] == bad.tx_hash and rec.payload["reason"] == reason


def test_blob_refs_finds_blob_hashes_in_payloads():
    p = {"ciphertext_blob": "aa", "proof": {"blob": "bb"}, "blobs": ["cc", "dd"], "n": 3}
    assert sorted(blob_refs(p)) == ["aa", "bb", "cc", "dd"]


# -- hypothesis: supply invariant under random valid and invalid transactions ------------
PEOPLE = [ALICE, BOB, CAROL, AUTH]
op = st.tuples(
    st.sampled_from(["transfer", "deposit", "penalty", "payout", "replay", "forge"]),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(-5, 120),
    st.integers(-1, 1),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(op, max_size=25))
def test_supply_is_invariant_under_random_transactions(ops):
    s = genesis_state({p.address: 60 for p in PEOPLE}, [AUTH.address])
    supply = s.supply
    last = None
    for kind, i, j, amount, nonce_skew in ops:
        a, b = PEOPLE[i], PEOPLE[j]
        nonce = s.next_nonce(a.address) + nonce_skew
        if nonce < 0:
            nonce = 0
        if kind == "transfer":
            tx = make_tx(a, TxKind.TRANSFER, nonce, {"to": b.address, "amount": amount})
        elif kind == "deposit":
            tx = make_tx(a, TxKind.DEPOSIT, nonce, {"amount": amount}, group="g")
        elif kind == "penalty":
            p = {"party": b.address, "amount": amount, "reason": "r"}
            tx = make_tx(a, TxKind.PENALTY, nonce, p, group="g")
        elif kind == "payout":
            p = {
                "to": b.address,
                "amount": amount,
                "source": ["escrow", "pool"][j % 2],
                "reason": "r",
            }
            tx = make_tx(a, TxKind.PAYOUT, nonce, p, group="g")
        elif kind == "replay" and last is not None:
            tx = last
        else:
            u = Transaction(TxKind.TRANSFER, a.address, nonce, {"to": b.address, "amount": 1})
            tx = dataclasses.replace(u, signature=b.sign(u.signing_bytes()).hex())
        before = s.copy()
        reason = s.try_apply(tx)
        if reason is None:
            last = tx
        else:
            assert s.balances == before.balances and s.nonces == before.nonces
        assert sum(s.balances.values()) == supply == s.supply
        assert all(v >= 0 for v in s.balances.values())
