"""Settlement (paper section 4.2.4): the Trading (T2) and Decryption (T5) contracts closed on
the round's submissions, their transfers moved on chain (the stake is held in escrow too), and
a group's end (finished, aborted, failed): unsettled deposits refunded, stakes returned."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from deepchain.incentives.clock import Phase
from deepchain.incentives.contracts import DecryptionContract, Settlement, TradingContract
from deepchain.incentives.money import Reason, Transfer, account_kind, stake_return_transfers
from deepchain.incentives.money import escrow_account as escrow
from deepchain.incentives.money import pool_account as pool
from deepchain.incentives.payoff import contribution_weights
from deepchain.ledger.transactions import TxKind
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish
from ledger_app import services as ledger
from training_app import selectors
from training_app.models import CooperativeGroup, Membership, Round, Submission
from training_app.services.parties import wake_simulated_parties

S = Submission


def settle(r: Round, g: CooperativeGroup, kind: str, t: int) -> Settlement:
    """Trading (gradients) or Decryption (shares) contract settlement, applied on chain."""
    members = selectors.members_in_order(g)
    parties = [m.account.address for m in members]
    sched = selectors.schedule_of(r)
    stakes = {m.account.address: int(m.stake_remaining) for m in members}
    if kind == S.Kind.GRADIENT:
        c: Any = TradingContract(g.address, parties, int(g.deposit), sched, stakes=stakes)
    else:
        c = DecryptionContract(
            g.address,
            parties,
            int(g.deposit),
            sched,
            threshold=selectors.public_key_of(g).t,
            stakes=stakes,
        )
    kinds = [kind]
    if kind == S.Kind.DECRYPTION_SHARE:
        kinds.append(S.Kind.DECRYPTION_REFUSAL)
    for sub in r.submissions.filter(kind__in=kinds).select_related("membership__account"):
        addr = sub.membership.account.address
        at = int(sub.submitted_at.timestamp() * 1000)
        if sub.kind == S.Kind.DECRYPTION_REFUSAL:
            c.refused[addr] = at  # costs the refusing party nothing (recorded on time)
        elif sub.status == S.Status.LATE:
            c.late[addr] = at
        elif sub.status in (S.Status.ACCEPTED, S.Status.REJECTED):
            c.submissions[addr] = (at, sub.status == S.Status.ACCEPTED)
    sizes = {m.account.address: max(1, int(m.data_size)) for m in members}
    weights = contribution_weights({p: 1 for p in c.honest}, sizes)
    answered = len(c.submissions) + len(c.refused)
    at = max(t, sched.deadline(c.PHASE) + 1) if answered < len(parties) else t
    s = c.close(at, weights=weights)
    apply_transfers(g, r, c.PHASE, s.transfers)
    for m in members:
        left = c.stakes[m.account.address]
        if left != m.stake_remaining:
            Membership.objects.filter(pk=m.pk).update(stake_remaining=left)
    r.settlements = {**r.settlements, c.PHASE.value: s.to_dict()}
    r.save(update_fields=["settlements"])
    for p, why in s.penalised.items():
        publish(g.id, "penalty", round=r.number, phase=c.PHASE.value, party=p, reason=why,
                amount=int(g.deposit))  # fmt: skip
    for tr in s.transfers:
        if tr.reason in (Reason.PAYBACK.value, Reason.EXTRA_PAY.value):
            publish(g.id, "payout", round=r.number, phase=c.PHASE.value, party=tr.destination,
                    reason=tr.reason, amount=tr.amount)  # fmt: skip
    return s


def apply_transfers(g: CooperativeGroup, r: Round | None, phase, transfers) -> None:
    """Map contract transfers onto ledger transactions (the stake is held in escrow too)."""
    auth = ledger.authority_identity()
    esc, pl = escrow(g.address), pool(g.address)
    for tr in transfers:
        tr: Transfer
        src = esc if account_kind(tr.source) in ("escrow", "stake") else tr.source
        common = dict(group=g.address, round=r.number if r else None,
                      phase=phase.value if phase else None, signer=auth)  # fmt: skip
        if account_kind(tr.destination) == "pool":
            ledger.move_money(source=src, destination=pl, amount=tr.amount, kind=TxKind.PENALTY,
                              reason=tr.reason, extra={"party": tr.party}, **common)  # fmt: skip
        else:
            ledger.move_money(source=src, destination=tr.destination, amount=tr.amount,
                              kind=TxKind.PAYOUT, reason=tr.reason, **common)  # fmt: skip


ENDABLE = (CooperativeGroup.Status.RECRUITING, CooperativeGroup.Status.KEYGEN,
           CooperativeGroup.Status.RUNNING)  # fmt: skip


def abort_group(*, group, by, reason: str = "") -> CooperativeGroup:
    """The initiator stops a group that has not ended: every deposit of a phase that has not
    settled comes back (``deposit_refund``), then what is left of each stake
    (``stake_return``); penalties already settled by the contracts stay. Status ``aborted``."""
    if group.initiator_id != by.id:
        raise DomainError("only the initiator aborts the group", code="forbidden",
                          status_code=403)  # fmt: skip
    why = "aborted by the initiator" + (f": {reason.strip()[:200]}" if reason.strip() else "")
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group.pk)
        if g.status not in ENDABLE:
            raise DomainError(f"the group has already ended ({g.status})", code="ended",
                              status_code=409)  # fmt: skip
        end_group(g, CooperativeGroup.Status.ABORTED, why)
        g.refresh_from_db()
    return g


def end_group(g: CooperativeGroup, status: str, reason: str) -> None:
    """End ``g`` once, inside the caller's transaction (finished, aborted, failed): refund the
    deposits of phases that have not settled, return what is left of each stake, record why
    (a CLOCK transaction ``ended``)."""
    g = CooperativeGroup.objects.select_for_update().get(pk=g.pk)
    if g.status not in ENDABLE:
        return
    r = Round.objects.select_for_update().filter(group=g, finished_at=None).first()
    ledger.submit_transaction(
        kind=TxKind.CLOCK, signer=ledger.authority_identity(), group=g.address,
        round=r.number if r else None, payload={"ended": str(status), "reason": reason[:300]},
    )  # fmt: skip
    if r is not None:
        for kind, phase in ((S.Kind.GRADIENT, Phase.T1), (S.Kind.DECRYPTION_SHARE, Phase.T5)):
            if phase.value in (r.settlements or {}):
                continue
            paid = r.submissions.filter(kind=kind).exclude(status=S.Status.LATE)
            refunds = [
                Transfer(escrow(g.address), sub.membership.account.address, int(g.deposit),
                         Reason.DEPOSIT_REFUND.value, sub.membership.account.address)
                for sub in paid.select_related("membership__account").order_by("id")
            ]  # fmt: skip
            apply_transfers(g, r, phase, refunds)
        r.finished_at = timezone.now()
        r.status_reason = r.status_reason or reason
        r.save(update_fields=["finished_at", "status_reason"])
    left = {m.account.address: int(m.stake_remaining) for m in selectors.members_in_order(g)}
    apply_transfers(g, None, None, stake_return_transfers(g.address, left))
    Membership.objects.filter(group=g).update(stake_remaining=0)
    g.status, g.status_reason, g.ended_at = status, reason, timezone.now()
    g.save(update_fields=["status", "status_reason", "ended_at"])
    publish(g.id, "group_status", status=g.status, reason=reason)
    wake_simulated_parties(g)
