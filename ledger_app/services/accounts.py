"""Accounts: a party's account (custodial or its own registered keys) and the sign-up grant
from the faucet."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deepchain.crypto.identity import Identity
from deepchain.ledger.transactions import (
    TxKind,
    is_pk_hex,
)
from deepchain_web.api_errors import DomainError
from deepchain_web.throttling import rate as throttle_rate
from ledger_app.models import Account, LedgerEntry
from ledger_app.services.chain import bootstrap_chain, move_money
from ledger_app.services.keystore import (
    faucet_identity,
    keystore_path,
    party_identity,
    treasury_identity,
)

DEFAULT_GRANT = int(getattr(settings, "DEEPCHAIN_DEFAULT_GRANT", 10_000))


# -- accounts ---------------------------------------------------------------------------------
FAUCET_GRANT = "faucet grant"


def _faucet_account() -> Account:
    ident = faucet_identity()
    acct, _ = Account.objects.get_or_create(
        address=ident.address,
        defaults={"kind": Account.Kind.FAUCET, "box_pk": ident.public.box_pk, "label": "faucet"},
    )
    return acct


def _grant(acct: Account, grant: int) -> None:
    """Pay the sign-up grant from the faucet: at most DEEPCHAIN_RATES["faucet"] grants in any
    window of its length (counted exactly, under the faucet's row lock); the treasury tops the
    faucet up by DEEPCHAIN_FAUCET_REFILL (signed transfers) when it cannot pay. Beyond the
    limit: DomainError 429 (the caller's transaction, e.g. the sign-up, rolls back)."""
    if grant <= 0:
        return
    faucet = _faucet_account()
    limit = throttle_rate("faucet")
    with transaction.atomic():
        f = Account.objects.select_for_update().get(pk=faucet.pk)
        since = timezone.now() - datetime.timedelta(seconds=limit.period_s)
        paid = LedgerEntry.objects.filter(
            account=f, delta__lt=0, reason=FAUCET_GRANT, created_at__gte=since
        ).count()
        if paid >= limit.count:
            raise DomainError("the faucet has paid all the grants it may for now: try again later",
                              code="faucet_limit", status_code=429)  # fmt: skip
        if f.balance < grant:
            t = Account.objects.get(kind=Account.Kind.TREASURY)
            move_money(
                source=t.address, destination=f.address, kind=TxKind.TRANSFER,
                amount=max(grant, int(settings.DEEPCHAIN_FAUCET_REFILL)), reason="faucet refill",
                signer=treasury_identity(),
            )  # fmt: skip
        move_money(
            source=f.address, destination=acct.address, amount=grant, kind=TxKind.TRANSFER,
            reason=FAUCET_GRANT, signer=faucet_identity(),
        )  # fmt: skip


def create_party_account(*, user, grant: int = DEFAULT_GRANT) -> Account:
    """A new pseudonymous identity for ``user`` (custodial keystore) plus a faucet grant."""
    bootstrap_chain()
    ident = Identity.generate()
    ident.save(keystore_path("users", f"{ident.address}.json"))
    with transaction.atomic():
        acct = Account.objects.create(
            address=ident.address, box_pk=ident.public.box_pk, kind=Account.Kind.PARTY,
            user=user, label=getattr(user, "username", "") or ident.address[:16],
        )  # fmt: skip
        _grant(acct, grant)
    return acct


def register_external_account(*, user, sign_pk: str, box_pk: str, grant: int = DEFAULT_GRANT):
    """An account for a party agent that holds its own keys (only public keys stored)."""
    bootstrap_chain()
    if not is_pk_hex(sign_pk) or not is_pk_hex(box_pk):
        raise DomainError("sign_pk and box_pk must be 64-digit lowercase hex", code="bad_key")
    with transaction.atomic():
        if Account.objects.filter(address=sign_pk).exists():
            raise DomainError("this public key is already registered", code="duplicate")
        acct = Account.objects.create(
            address=sign_pk, box_pk=box_pk, kind=Account.Kind.PARTY, user=user,
            label=getattr(user, "username", "") or sign_pk[:16],
        )  # fmt: skip
        _grant(acct, grant)
    return acct


def hand_over_custodial_account(*, user, sign_pk: str, box_pk: str) -> Account:
    """``user``'s custodial wallet moves to keys its own party agent generated: a new account
    for (sign_pk, box_pk) takes the user, the old one's whole balance moves to it (a TRANSFER
    signed by the old key, on chain), the old account is detached and its private key file is
    deleted from the platform's keystore after the commit. The caller checks that nothing of
    the old account is at stake (no open membership)."""
    with transaction.atomic():
        old = Account.objects.select_for_update().get(user=user)
        p = keystore_path("users", f"{old.address}.json")
        ident = party_identity(old)
        old.user = None
        old.label = f"{old.label} (moved to its agent's keys)"[:120]
        old.save(update_fields=["user", "label"])
        acct = register_external_account(user=user, sign_pk=sign_pk, box_pk=box_pk, grant=0)
        old.refresh_from_db()
        if old.balance > 0:
            move_money(
                source=old.address, destination=acct.address, amount=int(old.balance),
                kind=TxKind.TRANSFER, reason="wallet moved to the party agent's own keys",
                signer=ident,
            )  # fmt: skip
        transaction.on_commit(lambda: p.unlink(missing_ok=True))
    acct.refresh_from_db()
    return acct
