"""What the live dashboard tells about a group, beyond the raw snapshot: who is who, how far
the current phase has got (k of N gradients, k of t shares) and when it is expected to end,
the key setup, this group's blocks, and the outcome (accuracy, durations, money per party).

Reads only (a selectors module of the frontend); ``frontend.selectors.dashboard_snapshot``
attaches these under ``parties``, ``progress``, ``keysetup``, ``blocks`` and ``outcome``.
"""

from __future__ import annotations

import statistics
from typing import Any

from deepchain.incentives.clock import Phase, RoundSchedule
from deepchain.incentives.money import escrow_account, pool_account
from ledger_app.models import Block, Transaction
from training_app.models import CooperativeGroup, Membership, Round, Submission

from .labels import address_names, phase_label, reason_label

ENDED = ("finished", "aborted", "failed")


def party_directory(group: CooperativeGroup) -> dict[str, dict[str, Any]]:
    """Address -> {"label": "P2", "name": username} for the members; known names (workers,
    authority, treasury, the group's escrow and pool) -> {"label": "", "name": ...}."""
    out: dict[str, dict[str, Any]] = {}
    for m in Membership.objects.filter(group=group).select_related("account", "user"):
        out[m.account.address] = {
            "label": f"P{m.party_index}" if m.party_index else "",
            "name": m.user.username,
            "index": m.party_index,
        }
    extra = address_names([escrow_account(group.address), pool_account(group.address)])
    from ledger_app.models import Account

    for a in Account.objects.exclude(kind="party").exclude(label="").only("address", "label"):
        extra.setdefault(a.address, a.label)
    for address, name in extra.items():
        out.setdefault(address, {"label": "", "name": name, "index": None})
    return out


def _estimate_s(group: CooperativeGroup, rnd: Round, phase: str) -> float | None:
    """Seconds the phase is expected to take: the median of the group's earlier rounds."""
    past = [
        float(r.phase_times[phase])
        for r in Round.objects.filter(group=group, number__lt=rnd.number).only("phase_times")
        if isinstance((r.phase_times or {}).get(phase), int | float)
    ]
    if past:
        return statistics.median(past)
    from .costs import phase_estimate_s

    return phase_estimate_s(group, phase)


def phase_progress(group: CooperativeGroup, rnd: Round | None) -> dict[str, Any]:
    """The current phase: what is in (k of N gradients, k of t valid shares), when it opened,
    its deadline and its expected end (never after the deadline)."""
    if rnd is None or not rnd.schedule or rnd.finished_at is not None:
        return {}
    sched = RoundSchedule.from_json(rnd.schedule)
    phase = rnd.phase
    if phase not in Phase._value2member_map_:
        return {}
    p = Phase(phase)
    subs = Submission.objects.filter(round=rnd)
    grads = subs.filter(kind=Submission.Kind.GRADIENT)
    shares = subs.filter(kind=Submission.Kind.DECRYPTION_SHARE)
    S = Submission.Status
    counts = {
        "gradients_in": grads.exclude(status=S.LATE).count(),
        "gradients_verified": grads.filter(status=S.ACCEPTED).count(),
        "gradients_rejected": grads.filter(status=S.REJECTED).count(),
        "shares_in": shares.exclude(status=S.LATE).count(),
        "shares_valid": shares.filter(status=S.ACCEPTED).count(),
        "N": group.n_parties,
        "t": group.threshold,
    }
    if p in (Phase.T1, Phase.T2):
        what = f"{counts['gradients_in']} of N = {group.n_parties} gradients in"
        if p == Phase.T2 or counts["gradients_verified"] or counts["gradients_rejected"]:
            what += f", {counts['gradients_verified']} verified"
            if counts["gradients_rejected"]:
                what += f", {counts['gradients_rejected']} rejected"
    elif p in (Phase.T4, Phase.T5):
        what = (f"{counts['shares_valid']} of t = {group.threshold} valid decryption shares "
                f"({counts['shares_in']} of {group.n_parties} received)")  # fmt: skip
    elif p in (Phase.T7, Phase.T8, Phase.T9):
        what = "workers aggregate the accepted gradients"
    elif p == Phase.T6:
        what = "combining the shares"
    else:
        what = ""
    opened = sched.opens_at(p)
    deadline = sched.deadline(p)
    est = _estimate_s(group, rnd, phase)
    expected = min(deadline, int(opened + est * 1000)) if est is not None else None
    return {"phase": phase, "label": phase_label(phase), "what": what, **counts,
            "opened_ms": opened, "deadline_ms": deadline, "expected_end_ms": expected,
            "estimate_s": est}  # fmt: skip


def key_setup(group: CooperativeGroup) -> dict[str, Any]:
    """Before round 1: parties joined and staked, agents online, the key ceremony."""
    from training_app.presence import is_online

    ms = list(group.members.filter(status=Membership.Status.ACTIVE))
    steps = [
        {"what": f"{sum(1 for m in ms if m.stake_remaining > 0 or group.status != 'recruiting')}"
                 f" of N = {group.n_parties} parties joined and staked",
         "done": len(ms) == group.n_parties},
        {"what": f"{sum(1 for m in ms if is_online(m))} of {group.n_parties} agents online",
         "done": group.status != "recruiting" or (ms and all(is_online(m) for m in ms))},
        *(_ceremony_steps(group) if group.key_origin == "dealerless" else [
            {"what": f"threshold key PK_model ({group.key_bits} bits, t = {group.threshold}) "
                     "generated by a dealer (the platform: tests and benchmarks only) and each "
                     "share sealed to its party",
             "done": group.public_key is not None},
        ]),
        {"what": "GROUP_CREATE (Tran_co) on chain; round 1 starts",
         "done": group.current_round >= 1},
    ]  # fmt: skip
    return {"active": group.status in ("recruiting", "keygen"), "steps": steps,
            "key_origin": group.key_origin}  # fmt: skip


def _ceremony_steps(group: CooperativeGroup) -> list[dict[str, Any]]:
    """The dealerless ceremony's phases, its open round and any blame, as key-setup steps."""
    from training_app.key_ceremony import PHASES, ceremony_state

    st = ceremony_state(group, None)
    head = (f"dealerless key ceremony: the {group.n_parties} parties make PK_model "
            f"({group.key_bits} bits, t = {group.threshold}); nobody, the platform included, "
            "learns its factors")  # fmt: skip
    if st is None:
        return [{"what": head + " (starts when the group starts)", "done": False}]
    ended = st["status"] in ("done", "failed") or group.public_key is not None
    at = PHASES.index(st["phase"]) if st["phase"] in PHASES else 0
    done_all = st["status"] in ("verifying", "done")
    steps = [{"what": head, "done": st["status"] == "done"}]
    for k, phase in enumerate(PHASES):
        what = f"phase {phase}"
        if k == at and not ended and not done_all:
            left = max(0, st["deadline_ms"] - st["now_ms"]) // 1000
            what += (f": message round {st['round']}, {len(st['posted'])} of {st['N']} parties "
                     f"posted, deadline in {left} s")  # fmt: skip
        steps.append({"what": what, "done": done_all or k < at})
    relayed = (f"{st['bytes_relayed'] / 1e6:.2f} MB relayed as sealed envelopes in "
               f"{st['round']} rounds; transcript {st['transcript_hash'][:16]}")  # fmt: skip
    if st["status"] == "verifying":
        relayed += f"; {len(st['reported'])} of {st['N']} reported, public checks running"
    steps.append({"what": relayed, "done": st["status"] == "done"})
    for b in st["blame"]:
        who = f"P{b['party']}" if b["party"] else "nobody (not attributable)"
        lost = f", forfeited {b['forfeited']}" if b["forfeited"] else ""
        steps.append({"what": f"blame: {who}: {b['reason']}{lost}", "done": False})
    return steps


def group_blocks(group: CooperativeGroup, limit: int = 10) -> list[dict[str, Any]]:
    """The latest blocks that hold this group's transactions (and how many of them)."""
    rows = []
    blocks = (
        Block.objects.filter(transactions__group_ref=group.address)
        .distinct()
        .order_by("-height")[:limit]
    )
    for b in blocks:
        n = b.transactions.filter(group_ref=group.address).count()
        rows.append({"height": b.height, "hash": b.block_hash, "tx_count": b.tx_count,
                     "group_txs": n, "timestamp_ms": b.timestamp_ms})  # fmt: skip
    return rows


def outcome(group: CooperativeGroup, directory: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Final and per-round accuracy, round durations, and per party what it earned (extra
    pay) and forfeited (penalties); the reason of any failure."""
    rounds = []
    for r in Round.objects.filter(group=group).order_by("number"):
        secs = round((r.finished_at - r.started_at).total_seconds(), 1) if r.finished_at else None
        rounds.append({"round": r.number, "accuracy": r.accuracy, "seconds": secs,
                       "n_accepted": r.n_accepted, "reason": r.status_reason,
                       "finished": r.finished_at is not None})  # fmt: skip
    money: dict[str, dict[str, int]] = {}
    txs = Transaction.objects.filter(group_ref=group.address, kind__in=["payout", "penalty"])
    for t in txs.exclude(status="rejected"):
        p = t.payload or {}
        amount = int(p.get("amount") or 0)
        if t.kind == "penalty":
            who = p.get("party", "")
            money.setdefault(who, {"earned": 0, "forfeited": 0, "penalties": 0})
            money[who]["forfeited"] += amount
            money[who]["penalties"] += 1
        elif p.get("reason") == "extra_pay":
            who = p.get("to", "")
            money.setdefault(who, {"earned": 0, "forfeited": 0, "penalties": 0})
            money[who]["earned"] += amount
    parties = []
    for m in (
        Membership.objects.filter(group=group)
        .exclude(party_index=None)
        .select_related("account", "user")
        .order_by("party_index")
    ):
        got = money.get(m.account.address, {"earned": 0, "forfeited": 0, "penalties": 0})
        parties.append({"label": f"P{m.party_index}", "name": m.user.username,
                        "earned": got["earned"], "forfeited": got["forfeited"],
                        "penalties": got["penalties"], "net": got["earned"] - got["forfeited"],
                        "behaviour": m.behaviour if m.simulated else ""})  # fmt: skip
    done = [r for r in rounds if r["accuracy"] is not None]
    return {
        "ended": group.status in ENDED,
        "status": group.status,
        "reason": group.status_reason,
        "final_accuracy": done[-1]["accuracy"] if done else None,
        "rounds": rounds,
        "parties": parties,
        "pool_left": _balance(pool_account(group.address)),
    }


def _balance(address: str) -> int:
    from ledger_app.models import Account

    return int(Account.objects.filter(address=address).values_list("balance", flat=True).first()
               or 0)  # fmt: skip


def describe_reason(reason: str) -> str:
    """A money reason for the dashboard's tables."""
    return reason_label(reason)
