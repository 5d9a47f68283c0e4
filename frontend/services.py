"""Frontend business actions that no other app owns: asset statements (paper 4.2.3) and a
user's API token (DRF's ``Token``; no view writes a row itself)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from rest_framework.authtoken.models import Token

from deepchain.crypto.assets import make_asset_statement
from deepchain_web.api_errors import DomainError


def advertise_asset(*, user, title: str, keywords: Sequence[str], data_blocks: Sequence[bytes]):
    """Tag ``data_blocks`` (sigma_j = (H2(j) g1^{H1(data_j)})^x), record an ASSET transaction
    signed by the user's pseudonymous identity, and store the public statement (no data).

    The secret x = H1(data) is not stored: the owner re-derives it from the data to answer a
    possession challenge.
    """
    from deepchain.ledger.transactions import TxKind
    from ledger_app import services as ledger
    from ledger_app.models import Account, Asset

    if not data_blocks:
        raise DomainError("An asset needs at least one data block.", code="no_blocks")
    account = Account.objects.filter(user=user).first()
    if account is None:
        raise DomainError("You have no wallet yet.", code="no_account")
    statement, _secret = make_asset_statement(list(data_blocks), list(keywords))
    payload = {
        "title": title,
        "keywords": list(keywords),
        "n_blocks": statement.n_blocks,
        "statement_id": statement.statement_id,
        "pk_data": statement.to_dict()["pk_data"],
    }
    with transaction.atomic():
        tx = ledger.submit_transaction(
            kind=TxKind.ASSET, signer=ledger.party_identity(account), payload=payload
        )
        return Asset.objects.create(
            owner=account,
            title=title,
            keywords=list(keywords),
            n_blocks=statement.n_blocks,
            statement=statement.to_dict(),
            transaction=tx,
        )


@transaction.atomic
def replace_api_token(*, user) -> Token:
    """A new API token for ``user``; the previous one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def revoke_api_token(*, user) -> bool:
    """Delete ``user``'s API token; True if there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
