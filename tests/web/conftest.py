"""Fixtures for the web tests: users with real wallets (ledger services), a group."""

from __future__ import annotations

import itertools

import pytest

_n = itertools.count(1)


@pytest.fixture
def make_user(db):
    """A user with a pseudonymous account and a faucet grant (ledger_app.services)."""
    from django.contrib.auth import get_user_model

    from ledger_app.services import create_party_account

    def make(username: str | None = None, *, password: str = "pw-Deep-Chain-1", grant=None):
        user = get_user_model().objects.create_user(
            username=username or f"user{next(_n)}", password=password
        )
        kw = {} if grant is None else {"grant": grant}
        create_party_account(user=user, **kw)
        user.raw_password = password
        return user

    return make


@pytest.fixture
def make_group(db):
    """A recruiting group through training_app.services.create_group (small, fast settings)."""

    def make(initiator, **kw):
        from training_app.services import create_group

        params = dict(
            name=kw.pop("name", "test group"), n_parties=3, threshold=2, rounds=1, deposit=100,
            key_bits=512, simulated=True, key_origin="dealer",
        )  # fmt: skip
        params.update(kw)
        return create_group(initiator=initiator, **params)

    return make
