"""Re-casing a stored signature is tampering: only canonical lowercase hex verifies."""

import pytest

from deepchain.crypto.identity import Identity, signature_from_hex
from deepchain.ledger.blocks import sign_vote
from deepchain.ledger.transactions import TxKind, make_tx


def test_it_rejects_an_upper_cased_vote_signature():
    voter = Identity.from_seed(b"v" * 32)
    vote = sign_vote(voter, "ab" * 32, 1, 0)
    assert vote.verify()
    assert not type(vote)(**{**vote.__dict__, "signature": vote.signature.upper()}).verify()


def test_it_rejects_an_upper_cased_transaction_signature():
    sender = Identity.from_seed(b"s" * 32)
    tx = make_tx(sender, TxKind.TRANSFER, 1, {"to": "ab" * 32, "amount": 5})
    assert tx.verify_signature()
    with pytest.raises(ValueError):
        type(tx).from_dict({**tx.to_dict(), "signature": tx.signature.upper()})


def test_signature_from_hex_accepts_only_the_canonical_spelling():
    assert signature_from_hex("ab" * 64) == bytes.fromhex("ab" * 64)
    assert signature_from_hex("AB" * 64) is None
    assert signature_from_hex("ab" * 63) is None
