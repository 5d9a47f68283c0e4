"""The parties of a group (paper section 4.2.4, group establishment): an agent registers its
own keys, applies, is approved (party index i) and stakes the collateral d into
``escrow:<group>``; a party's signed transactions are checked here (sender, group, round,
phase, signature); the platform's simulated parties are woken on commit."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from deepchain.incentives.money import Reason
from deepchain.incentives.money import escrow_account as escrow
from deepchain.ledger.transactions import Transaction as CoreTx
from deepchain.ledger.transactions import TxFormatError, TxKind
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish
from ledger_app import services as ledger
from ledger_app.models import Account
from training_app import tasks
from training_app.models import CooperativeGroup, Membership

BEHAVIOURS = (
    "honest",
    "late",
    "cheat",
    "flaky",
    "silent",
    "scaled",
    "stretched",
    "silent_keygen",
    "cheat_keygen",
)


def account_of(user) -> Account:
    """The user's DeepCoin account; DomainError if there is none."""
    acct = Account.objects.filter(user=user).first()
    if acct is None:
        raise DomainError("you need a DeepCoin account first", code="no_account")
    return acct


def register_agent(*, user, sign_pk: str, box_pk: str, signature: str) -> tuple[Account, bool]:
    """A party agent that holds its OWN keys registers its public keys (pk_psu, box key) as
    ``user``'s account; ``signature`` (hex Ed25519 over ``registration_message(user.id, ...)``)
    proves it holds pk_psu's private key. Idempotent for the same keys; refuses a user that
    already has another account. Returns (account, created)."""
    from django.db import IntegrityError

    from deepchain.crypto.identity import signature_from_hex, verify_signature
    from deepchain.ledger.transactions import is_pk_hex
    from deepchain.wire import registration_message

    if not (isinstance(sign_pk, str) and is_pk_hex(sign_pk)) or not (
        isinstance(box_pk, str) and is_pk_hex(box_pk)
    ):
        raise DomainError("sign_pk and box_pk must be 64-digit lowercase hex", code="bad_key")
    sig = signature_from_hex(signature)
    msg = registration_message(user.id, sign_pk, box_pk)
    if sig is None or not verify_signature(sign_pk, msg, sig):
        raise DomainError("the signature does not prove possession of sign_pk's private key",
                          code="bad_signature")  # fmt: skip
    existing = Account.objects.filter(user=user).first()
    if existing is not None:
        if existing.address == sign_pk and existing.box_pk == box_pk:
            return existing, False
        if not ledger.keystore_path("users", f"{existing.address}.json").exists():
            raise DomainError("you already have an account with other keys",
                              code="has_account", status_code=409)  # fmt: skip
        # a browser user's custodial wallet: its agent takes it over, unless it is at stake
        open_ = Membership.objects.filter(account=existing).exclude(
            group__status__in=[CooperativeGroup.Status.FINISHED, CooperativeGroup.Status.ABORTED,
                               CooperativeGroup.Status.FAILED]
        )  # fmt: skip
        if open_.exists():
            raise DomainError(
                "your wallet is a member of a group that has not ended; its keys stay with "
                "the platform until then", code="has_stake", status_code=409,
            )  # fmt: skip
        if Account.objects.filter(address=sign_pk).exists():
            raise DomainError("this public key is already registered", code="duplicate")
        return ledger.hand_over_custodial_account(user=user, sign_pk=sign_pk, box_pk=box_pk), True
    try:
        acct = ledger.register_external_account(user=user, sign_pk=sign_pk, box_pk=box_pk)
    except IntegrityError:  # a concurrent registration of this user won
        raise DomainError("you already have an account", code="has_account",
                          status_code=409) from None  # fmt: skip
    return acct, True


def apply_to_group(
    *, group, user, data_size: int = 0, simulated: bool = False, behaviour: str = "honest"
) -> Membership:
    """Apply to join ``group`` (the initiator approves, assigning a party index)."""
    if behaviour not in BEHAVIOURS:
        raise DomainError(f"behaviour must be one of {BEHAVIOURS}", code="bad_behaviour")
    if data_size < 0:
        raise DomainError("data size must be >= 0", code="bad_data_size")
    acct = account_of(user)
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group.pk)
        if g.status != CooperativeGroup.Status.RECRUITING:
            raise DomainError("this group is no longer recruiting", code="not_recruiting")
        m, created = Membership.objects.get_or_create(
            group=g,
            user=user,
            defaults={
                "account": acct,
                "data_size": data_size,
                "simulated": simulated,
                "behaviour": behaviour,
            },
        )
        if not created and m.status == Membership.Status.REJECTED:
            raise DomainError("your application was rejected", code="rejected")
        if created:
            publish(g.id, "member_applied", party=acct.address)  # pseudonymous: no username
    return m


def approve_member(*, group, membership, by) -> Membership:
    """The initiator approves an application: party index i = next free in 1..N."""
    if group.initiator_id != by.id:
        raise DomainError("only the initiator approves members", code="forbidden", status_code=403)
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group.pk)
        m = Membership.objects.select_for_update().get(pk=membership.pk, group=g)
        if m.status == Membership.Status.ACTIVE:
            return m
        if g.status != CooperativeGroup.Status.RECRUITING:
            raise DomainError("this group is no longer recruiting", code="not_recruiting")
        used = set(g.members.exclude(party_index=None).values_list("party_index", flat=True))
        free = [i for i in range(1, g.n_parties + 1) if i not in used]
        if not free:
            raise DomainError("the group already has N parties", code="full")
        m.party_index = free[0]
        m.status = Membership.Status.ACTIVE
        m.save(update_fields=["party_index", "status"])
        publish(g.id, "member_approved", party=m.account.address, index=m.party_index)
    return m


def join_group(
    *,
    group,
    user,
    data_size: int = 0,
    simulated: bool = False,
    behaviour: str = "honest",
    signed_deposit: dict | None = None,
) -> Membership:
    """Apply + stake the collateral d (DEPOSIT wallet -> escrow:<group>, one DB transaction);
    auto-approved while the group recruits and has room. An external agent's account must
    send its own signed DEPOSIT transaction (``signed_deposit``)."""
    with transaction.atomic():
        check_custody(group, user, simulated=simulated, signed=signed_deposit is not None)
        m = apply_to_group(
            group=group, user=user, data_size=data_size, simulated=simulated, behaviour=behaviour
        )
        m = Membership.objects.select_for_update().get(pk=m.pk)
        if m.stake_remaining > 0:
            return m
        g = CooperativeGroup.objects.get(pk=group.pk)
        if m.status != Membership.Status.ACTIVE:
            m = approve_member(group=g, membership=m, by=g.initiator)
        d = int(g.deposit)
        if signed_deposit is not None:
            tx = parse_party_tx(signed_deposit, TxKind.DEPOSIT, m, g, None, None)
            if int(tx.payload.get("amount", -1)) != d:
                raise DomainError(f"the stake must be exactly d = {d}", code="bad_amount")
            ledger.submit_signed_transaction(tx=tx)
        else:
            ledger.move_money(
                source=m.account.address,
                destination=escrow(g.address),
                amount=d,
                kind=TxKind.DEPOSIT,
                reason=Reason.STAKE.value,
                signer=ledger.party_identity(m.account),
                group=g.address,
            )
        m.stake_remaining = d
        m.save(update_fields=["stake_remaining"])
        publish(g.id, "member_joined", party=m.account.address, index=m.party_index, stake=d)
    return m


def check_custody(group, user, *, simulated: bool, signed: bool) -> None:
    """The platform holds a party's identity only in a group marked ``simulated`` (on chain in
    GROUP_CREATE): a real group's parties are agents that hold their own keys and sign their
    own deposits, so neither a simulated party nor a platform-held (custodial) wallet may join
    it. Raises DomainError naming the rule."""
    if group.simulated:
        return
    if simulated:
        raise DomainError("the platform simulates parties only in a group marked simulated",
                          code="not_simulated", status_code=409)  # fmt: skip
    acct = account_of(user)
    if ledger.holds_identity(acct) or not signed:
        raise DomainError(
            "this is a real group: its parties hold their own keys. Join with the party agent "
            "(python -m deepchain.party --group ID), which signs its own deposit; the platform "
            "holds your wallet's key, so that wallet can only join groups marked simulated",
            code="custodial", status_code=409,
        )  # fmt: skip


def parse_party_tx(
    tx_dict: Any, kind: TxKind, m: Membership, g: CooperativeGroup, r: int | None, phase
) -> CoreTx:
    """A party's signed ``kind`` transaction for group ``g``, round ``r`` and ``phase``: its own
    (sender = the member's address), well formed and correctly signed; DomainError otherwise."""
    try:
        tx = CoreTx.from_dict(dict(tx_dict))
    except (TxFormatError, TypeError, ValueError) as exc:
        raise DomainError(f"malformed transaction: {exc}", code="bad_tx") from None
    if tx.kind != kind:
        raise DomainError(f"expected a {kind} transaction", code="bad_tx")
    if tx.sender != m.account.address:
        raise DomainError(
            "a party signs its own transactions only", code="forbidden", status_code=403
        )
    if tx.group != g.address or tx.round != r or (phase is not None and tx.phase != phase):
        raise DomainError("transaction for another group, round or phase", code="bad_tx")
    if not tx.verify_signature():
        raise DomainError("bad signature", code="bad_signature")
    return tx


def wake_simulated_parties(g: CooperativeGroup) -> None:
    """Enqueue one party_step per simulated party (after this transaction commits)."""
    for mid in g.members.filter(simulated=True, status=Membership.Status.ACTIVE).values_list(
        "id", flat=True
    ):
        transaction.on_commit(partial(tasks.party_step.delay, mid))
