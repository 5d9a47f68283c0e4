"""Reads of collaborative training: visible groups, the dashboard snapshot, round states, and
what the services read of a group (its key, packing, strategy, members) and of a round (its
clock, the model it starts from, the aggregates before it)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from django.db.models import Q, QuerySet

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.incentives.clock import ROUND_ORDER, RoundSchedule
from deepchain.learning.strategies import Strategy
from ledger_app import services as ledger
from ledger_app.models import Account
from training_app import presence
from training_app.models import (
    CooperativeGroup,
    Membership,
    Metric,
    Round,
    SeenCiphertext,
    Submission,
)


def visible_groups(user) -> QuerySet[CooperativeGroup]:
    """Auditors (staff) see every group; signed-in users see recruiting groups, public ones
    (the demo's) and their own; visitors who are not signed in see the public ones."""
    qs = CooperativeGroup.objects.all()
    if getattr(user, "is_staff", False):
        return qs
    if not getattr(user, "is_authenticated", False):
        return qs.filter(public=True)
    return qs.filter(
        Q(status=CooperativeGroup.Status.RECRUITING)
        | Q(public=True)
        | Q(initiator=user)
        | Q(members__user=user)
    ).distinct()


def membership_of(group, user) -> Membership | None:
    return (
        Membership.objects.select_related("account")
        .filter(group=group, user=user, status=Membership.Status.ACTIVE)
        .first()
    )


def current_round(group) -> Round | None:
    return Round.objects.filter(group=group, number=group.current_round).first()


def round_state(group, membership: Membership | None, now_ms: int | None = None) -> dict[str, Any]:
    """What a party agent polls: phase, deadlines, what it already sent, finished rounds."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    r = current_round(group)
    me: dict[str, Any] | None = None
    if membership is not None:
        me = {"index": membership.party_index, "next_nonce": membership.account.nonce + 1}
        if r is not None:
            for s in r.submissions.filter(membership=membership):
                me[s.kind] = s.status
    return {
        "group": group.id,
        "group_status": group.status,
        "round": r.number if r else 0,
        "rounds": group.rounds,
        "phase": r.phase if r else None,
        "now_ms": now,
        "deadlines_ms": (r.schedule or {}).get("deadlines_ms", {}) if r else {},
        "closed_ms": (r.schedule or {}).get("closed_ms", {}) if r else {},
        "aggregate_ready": bool(r and r.aggregate_blob),
        "round_reason": r.status_reason if r else "",  # why the round failed, if it did
        "finished_rounds": list(
            Round.objects.filter(group=group)
            .exclude(result_blob="")
            .values_list("number", flat=True)
        ),
        "me": me,
    }


def _countdowns(r: Round, now: int) -> dict[str, int]:
    dl = (r.schedule or {}).get("deadlines_ms", {})
    closed = (r.schedule or {}).get("closed_ms", {})
    return {
        p.value: max(0, dl[p.value] - now)
        for p in ROUND_ORDER
        if p.value in dl and p.value not in closed
    }


def shown_username(viewer, user) -> str | None:
    """Pseudonymity: a member's username is shown only to that user and to staff; everyone
    else knows members by on-chain address and party index."""
    if viewer is None or not getattr(viewer, "is_authenticated", False) or user is None:
        return None
    if viewer.pk == user.pk or viewer.is_staff:
        return user.get_username()
    return None


def group_snapshot(group, viewer=None) -> dict[str, Any]:
    """Everything the dashboard shows (and re-sends on reconnect). Members appear by address
    and party index; ``user`` is their username only for ``viewer`` themself or staff."""
    now = int(time.time() * 1000)
    members = list(group.members.select_related("account", "user").order_by("party_index", "id"))
    r = current_round(group)
    rounds = list(Round.objects.filter(group=group).order_by("number"))
    metrics = Metric.objects.filter(round__group=group).select_related("round", "membership")
    curves: dict[str, list[dict[str, Any]]] = {"collaborative": []}
    for m in metrics.order_by("round__number", "id"):
        key = "collaborative" if m.membership is None else f"party {m.membership.party_index}"
        curves.setdefault(key, []).append(
            {"round": m.round.number, "accuracy": m.accuracy, "loss": m.loss}
        )
    subs = []
    if r is not None:
        for s in r.submissions.select_related("membership__account").order_by("id"):
            subs.append({
                "kind": s.kind, "party": s.membership.account.address,
                "index": s.membership.party_index, "status": s.status, "reason": s.reason,
                "bytes": s.size_bytes,
            })  # fmt: skip
    penalties, payouts = [], []
    for rr in rounds:
        for phase, st in (rr.settlements or {}).items():
            for party, why in st.get("penalised", {}).items():
                penalties.append(
                    {"round": rr.number, "phase": phase, "party": party, "reason": why}
                )
            for t in st.get("transfers", []):
                if t["reason"] in ("payback", "extra_pay"):
                    payouts.append({"round": rr.number, "phase": phase, "party": t["destination"],
                                    "reason": t["reason"], "amount": t["amount"]})  # fmt: skip
    return {
        "group": {
            "id": group.id, "name": group.name, "address": group.address,
            "status": group.status, "status_reason": group.status_reason, "N": group.n_parties,
            "t": group.threshold, "rounds": group.rounds, "model": group.model_name,
            "partition": group.partition, "deposit": group.deposit, "key_bits": group.key_bits,
            "min_contributors": group.min_contributors, "simulated": group.simulated,
        },
        "members": [
            {"index": m.party_index, "party": m.account.address,
             "user": shown_username(viewer, m.user),
             "status": m.status, "simulated": m.simulated, "behaviour": m.behaviour,
             "stake": m.stake_remaining, "agent": presence.agent_status(m)}
            for m in members
        ],
        "round": r.number if r else 0,
        "phase": r.phase if r else None,
        "deadlines_ms": (r.schedule or {}).get("deadlines_ms", {}) if r else {},
        "countdowns_ms": _countdowns(r, now) if r else {},
        "now_ms": now,
        "submissions": subs,
        "penalties": penalties,
        "payouts": payouts,
        "refusals": [
            {"round": s.round.number, "party": s.membership.account.address,
             "index": s.membership.party_index, "reason": s.reason}
            for s in Submission.objects.filter(round__group=group, kind="decryption_refusal")
            .select_related("round", "membership__account").order_by("id")
        ],
        "rounds_done": [
            {"round": rr.number, "accuracy": rr.accuracy, "loss": rr.loss,
             "n_accepted": rr.n_accepted, "phase_times": rr.phase_times,
             "reason": rr.status_reason, "processing": rr.processing,
             "bytes": int(sum(s.size_bytes for s in rr.submissions.all()))}
            for rr in rounds if rr.finished_at is not None
        ],
        "curves": curves,
    }  # fmt: skip


def submissions_of(group, round_number: int) -> QuerySet[Submission]:
    return Submission.objects.filter(round__group=group, round__number=round_number)


def agent_account(user) -> dict[str, Any] | None:
    """The caller's account as an agent sees it (public data only), or None."""
    acct = Account.objects.filter(user=user).first()
    if acct is None:
        return None
    custodial = ledger.keystore_path("users", f"{acct.address}.json").exists()
    return {"address": acct.address, "box_pk": acct.box_pk, "nonce": acct.nonce,
            "balance": acct.balance, "custodial": custodial}  # fmt: skip


def active_members(g: CooperativeGroup) -> list[Membership]:
    """The group's active members in party-index order (checked to be 1..N)."""
    members = members_in_order(g)
    if [m.party_index for m in members] != list(range(1, g.n_parties + 1)):
        raise RuntimeError("key ceremony: party indices are not 1..N")
    return members


def deadlines_of(r: Round) -> dict[str, int]:
    """The round's current deadline of each phase (ms)."""
    return dict(r.schedule.get("deadlines_ms", {}))


def schedule_of(r: Round) -> RoundSchedule:
    """The round's clock (its phases' deadlines and closes)."""
    return RoundSchedule.from_json(r.schedule)


def public_key_of(g: CooperativeGroup) -> ThresholdPublicKey:
    """The group's PK_model."""
    return ThresholdPublicKey.from_json(g.public_key)


def scheme_of(g: CooperativeGroup) -> PackingScheme:
    """The group's packing scheme (how an update's coordinates fill the plaintext slots)."""
    return PackingScheme.from_json(g.packing)


def strategy_of(g: CooperativeGroup) -> Strategy:
    """The group's strategy (FedAvg for a group recorded without one, before strategies)."""
    return Strategy.from_json(g.strategy) if g.strategy else Strategy()


def published_aggregates(r: Round) -> list[tuple[np.ndarray, int] | None]:
    """(S, n) of each round before ``r`` in order (None for a round without a result): what
    the group's optimizer state is re-derived from."""
    from deepchain.wire import ints_from_bytes

    store = ledger.blob_store()
    out: list[tuple[np.ndarray, int] | None] = []
    for prev in Round.objects.filter(group=r.group_id, number__lt=r.number).order_by("number"):
        if prev.result_blob and prev.n_accepted:
            out.append((ints_from_bytes(store.get(prev.result_blob)), prev.n_accepted))
        else:
            out.append(None)
    return out


def params_before(r: Round) -> str:
    """Blob hash of W_{r-1} (the model round r starts from)."""
    if r.number == 1:
        return r.group.initial_params
    prev = Round.objects.get(group=r.group_id, number=r.number - 1)
    return prev.params_blob or params_before(prev)


def seen_in_group(g: CooperativeGroup, digests: list[str]) -> dict[str, str]:
    """{digest: first tx} for those of ``digests`` already submitted in the group."""
    seen: dict[str, str] = {}
    for k in range(0, len(digests), 500):  # bounded IN lists
        rows = SeenCiphertext.objects.filter(group=g, digest__in=digests[k : k + 500])
        seen.update(rows.values_list("digest", "tx_hash"))
    return seen


def members_in_order(g: CooperativeGroup) -> list[Membership]:
    """The group's active members in party-index order."""
    ms = list(g.members.filter(status=Membership.Status.ACTIVE).select_related("account"))
    return sorted(ms, key=lambda m: m.party_index)


def round_bytes(r: Round) -> int:
    """The bytes the round's submissions uploaded."""
    return int(sum(r.submissions.values_list("size_bytes", flat=True)))
