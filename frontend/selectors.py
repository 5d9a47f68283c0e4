"""What the live dashboard shows: one normalised snapshot of a group, built from the models.

The consumer sends it on every (re)connect and on request, so a reconnecting browser catches
up. ``training_app.selectors.group_snapshot`` (when present) is attached under ``"training"``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ledger_app.models import LedgerEntry, Transaction
from training_app.models import CooperativeGroup, Membership, Metric, Round, Submission

log = logging.getLogger(__name__)

PHASES = [
    ("T1", "gradient_submission"),
    ("T2", "verification"),
    ("T3", "upload"),
    ("T7", "update"),
    ("T8", "verify_aggregate"),
    ("T9", "append"),
    ("T4", "download"),
    ("T5", "decryption_share"),
    ("T6", "return"),
]  # the clock's ROUND_ORDER


def _party_label(membership) -> str:
    if membership is None:
        return "collaborative"
    if membership.party_index:
        return f"P{membership.party_index}"
    return membership.account.address[:12]  # pseudonymous: never the username


def _money_tx(tx: Transaction, party_of: dict[str, str] | None = None) -> dict[str, Any]:
    """A penalty or payout row; ``party`` labels the member it concerns (P<i>) when known."""
    p = tx.payload or {}
    who = p.get("party") if tx.kind == "penalty" else (p.get("destination") or p.get("to"))
    return {
        "tx": tx.tx_hash,
        "kind": tx.kind,
        "round": tx.round,
        "phase": tx.phase,
        "amount": p.get("amount"),
        "source": p.get("source") or tx.sender,
        "destination": p.get("destination") or p.get("to"),
        "reason": p.get("reason", ""),
        "status": tx.status,
        "party": (party_of or {}).get(who or "", ""),
    }


def dashboard_snapshot(group: CooperativeGroup) -> dict[str, Any]:
    """Current round, phase, deadlines, submissions, penalties, payouts, blocks and curves."""
    group.refresh_from_db()
    rnd = Round.objects.filter(group=group).order_by("-number").first()
    schedule = (rnd.schedule or {}) if rnd else {}
    deadlines = schedule.get("deadlines_ms", {})
    closed = schedule.get("closed_ms", {})
    phases = [
        {
            "t": t,
            "name": name,
            "deadline_ms": deadlines.get(name),
            "closed_ms": closed.get(name) if isinstance(closed, dict) else None,
        }
        for t, name in PHASES
    ]
    subs = (
        Submission.objects.filter(round__group=group)
        .select_related("round", "membership__user")
        .order_by("-id")[:100]
    )
    submissions = [
        {
            "round": s.round.number,
            "party": _party_label(s.membership),
            "kind": s.kind,
            "status": s.status,
            "reason": s.reason,
            "size_bytes": s.size_bytes,
            "at": s.submitted_at.isoformat(),
        }
        for s in subs
    ]
    party_of = {
        m.account.address: _party_label(m)
        for m in Membership.objects.filter(group=group).select_related("account", "user")
        if m.account_id
    }
    txs = Transaction.objects.filter(group_ref__in=[group.address, str(group.id)])
    penalties = [_money_tx(t, party_of) for t in txs.filter(kind="penalty").order_by("-id")[:50]]
    payouts = [_money_tx(t, party_of) for t in txs.filter(kind="payout").order_by("-id")[:50]]
    verifications = [
        {
            "tx": t.tx_hash,
            "round": t.round,
            "phase": t.phase,
            "payload": {
                k: v for k, v in (t.payload or {}).items() if not isinstance(v, list | dict)
            },
        }
        for t in txs.filter(kind="verify").order_by("-id")[:50]
    ]
    from . import story
    from .labels import phase_label, reason_label

    blocks = story.group_blocks(group)
    directory = story.party_directory(group)
    for row in (*penalties, *payouts):
        row["reason_label"] = reason_label(row["reason"])
        row["phase_label"] = phase_label(row["phase"])
        who = directory.get(row["destination"] or "", {})
        row["to_name"] = who.get("name", "")
    curves: dict[str, list[dict[str, Any]]] = {}
    for m in (
        Metric.objects.filter(round__group=group)
        .select_related("round", "membership__user")
        .order_by("round__number", "id")
    ):
        curves.setdefault(_party_label(m.membership), []).append(
            {"round": m.round.number, "accuracy": m.accuracy, "loss": m.loss}
        )
    for r in Round.objects.filter(group=group, accuracy__isnull=False).order_by("number"):
        series = curves.setdefault("collaborative", [])
        if not any(p["round"] == r.number for p in series):
            series.append({"round": r.number, "accuracy": r.accuracy, "loss": r.loss})
    snap: dict[str, Any] = {
        "type": "snapshot",
        "group": group.id,
        "name": group.name,
        "status": group.status,
        "status_reason": group.status_reason,
        "rounds": group.rounds,
        "round": rnd.number if rnd else 0,
        "phase": rnd.phase if rnd else None,
        "phases": phases,
        "now_ms": int(time.time() * 1000),
        "submissions": submissions,
        "verifications": verifications,
        "penalties": penalties,
        "payouts": payouts,
        "blocks": blocks,
        "curves": curves,
        "parties": directory,
        "progress": story.phase_progress(group, rnd),
        "keysetup": story.key_setup(group),
        "outcome": story.outcome(group, directory),
        "ended": group.status in story.ENDED,
        "phase_label": phase_label(rnd.phase) if rnd else "",
    }
    try:
        from training_app import selectors as training_selectors

        snap["training"] = training_selectors.group_snapshot(group)
    except (ImportError, AttributeError):
        pass
    except Exception:  # the dashboard must still show the part it can
        log.warning("group_snapshot failed for group %s", group.id, exc_info=True)
    return snap


# -- the group page and the wallet ------------------------------------------------------------
def member_rows(members, viewer=None) -> list[dict[str, Any]]:
    """Each member with its agent's status (training_app.presence) and its username only if
    ``viewer`` may see it (the member themself, staff: ``shown_username``)."""
    from training_app.presence import agent_status
    from training_app.selectors import shown_username

    return [{"m": m, "agent": agent_status(m), "username": shown_username(viewer, m.user)}
            for m in members]  # fmt: skip


def is_custodial(account) -> bool:
    """True if the platform holds ``account``'s private key (a browser wallet)."""
    if account is None:
        return False
    from ledger_app.services import keystore_path

    return keystore_path("users", f"{account.address}.json").exists()


def agent_command(api_url: str, group, user, token) -> str:
    """The exact command that runs ``user``'s party agent for ``group`` (its data and its
    keystore in folders of the party's own, next to where it is run)."""
    who = user.get_username() if getattr(user, "is_authenticated", False) else "me"
    folder = f"./deepchain-{who}"
    key = token.key if token is not None else "<your API token>"
    return (
        f"python -m deepchain.party --api {api_url} --token {key} --group {group.id} "
        f"--data {folder}/data --keystore {folder}/keystore"
    )


def wallet_rows(account) -> list[dict[str, Any]]:
    """The account's history, newest first: every balance change (labelled with its group,
    round and phase) and every penalty charged to it from a stake it had already locked
    (those move escrow -> pool, so the wallet's balance does not change again)."""
    from .labels import phase_label, reason_label

    entries = list(
        LedgerEntry.objects.filter(account=account).select_related("transaction").order_by("-id")
    )
    penalties = list(
        Transaction.objects.filter(kind="penalty", payload__party=account.address).order_by("-id")
    )
    refs = {e.transaction.group_ref for e in entries if e.transaction} | {
        t.group_ref for t in penalties
    }
    groups = {g.address: g for g in CooperativeGroup.objects.filter(address__in=refs - {""})}
    rows: list[dict[str, Any]] = []
    for e in entries:
        tx = e.transaction
        rows.append({
            "at": e.created_at, "reason": reason_label(e.reason), "raw_reason": e.reason,
            "delta": e.delta, "balance_after": e.balance_after, "tx": tx,
            "group": groups.get(tx.group_ref) if tx else None,
            "round": tx.round if tx else None, "phase": phase_label(tx.phase) if tx else "",
            "penalty": False,
        })  # fmt: skip
    for t in penalties:
        p = t.payload or {}
        rows.append({
            "at": t.created_at, "reason": reason_label(p.get("reason")),
            "raw_reason": p.get("reason", ""), "delta": -int(p.get("amount", 0)),
            "balance_after": None, "tx": t, "group": groups.get(t.group_ref),
            "round": t.round, "phase": phase_label(t.phase), "penalty": True,
        })  # fmt: skip
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows


def held_in_groups(account) -> list[dict[str, Any]]:
    """What of the account's money a group holds now: its stake left (per open group)."""
    ms = Membership.objects.filter(account=account, stake_remaining__gt=0).select_related("group")
    return [{"group": m.group, "stake": m.stake_remaining} for m in ms]
