"""The clock and the phases (paper section 4.2.4, Deadlines and updateTime()).

A round runs the clock's phases in ROUND_ORDER; :func:`advance_round` closes every phase whose
condition holds (all inputs in, or deadline passed), in order, exactly once
(``Round.closed_phases`` under a row lock), applying updateTime() to the schedule, and runs the
phase's settlement or enqueues its work on commit. The beat (``tick_clock``) calls
:func:`close_due_phases`, which also re-enqueues overdue work whose task message was lost."""

from __future__ import annotations

import datetime
import logging
import time
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deepchain.incentives.clock import Deadlines, Phase, RoundSchedule
from deepchain.ledger.transactions import TxKind
from deepchain_web.events import publish
from ledger_app import services as ledger
from training_app import selectors, tasks
from training_app.models import CooperativeGroup, Round, Submission
from training_app.services.parties import wake_simulated_parties
from training_app.services.settlement import end_group, settle

log = logging.getLogger(__name__)

S = Submission

#: status_reason prefix of a round whose t valid shares do not decode (blame on chain at T6)
DECODE_FAILED = "decryption failed"


def now_ms() -> int:
    """The platform clock's now (ms since the epoch)."""
    return int(time.time() * 1000)


def start_round(g: CooperativeGroup, number: int) -> Round:
    """Open round ``number`` of ``g`` at now (its schedule from the group's deadlines)."""
    start = now_ms()
    sched = Deadlines.from_json(g.deadlines).schedule(start, group=g.address, round_no=number)
    r, _ = Round.objects.get_or_create(
        group=g,
        number=number,
        defaults={"schedule": sched.to_dict(), "phase": Phase.T1.value},
    )
    g.current_round = number
    g.save(update_fields=["current_round"])
    publish(g.id, "round_started", round=number, deadlines=sched.to_dict()["deadlines_ms"])
    publish(g.id, "phase_changed", round=number, phase=r.phase, deadlines=selectors.deadlines_of(r))
    wake_simulated_parties(g)
    return r


def close_due_phases(now_ms_: int | None = None) -> int:
    """The beat: advance every running round (closing due phases exactly once), then re-enqueue
    work whose task message was lost (:func:`rekick_stale_work`)."""
    n = 0
    for rid in Round.objects.filter(
        group__status=CooperativeGroup.Status.RUNNING, finished_at=None
    ).values_list("id", flat=True):
        n += len(advance_round(rid, now_ms_))
    rekick_stale_work(now_ms_)
    return n


#: (task, id) -> when this process last re-enqueued it (at most once per rekick period)
rekicked: dict[tuple[str, int], float] = {}


def verify_task(kind: str) -> Any:
    """The task that verifies a submission of ``kind`` (fsver1 or fsver2)."""
    return tasks.crypto_verify_gradient if kind == S.Kind.GRADIENT else tasks.crypto_verify_share


def rekick_period_s() -> float:
    return float(getattr(settings, "DEEPCHAIN_REKICK_S", 30.0))


def rekick_stale_work(now: int | None = None) -> list[tuple[str, int]]:
    """Re-enqueue the platform's own tasks whose effect is overdue by more than the rekick
    period: a pending submission's verification, a round's Processing (T3 closed, no aggregate)
    or combination (T5 closed, no result). Late acks re-deliver what a dying worker held, but a
    message a worker took from Redis and died before recording as unacked is gone; the tasks
    are idempotent, so a spare run changes nothing. Party agents are not woken here (their own
    retry loop and the deadlines cover them). Returns the (task, id) pairs enqueued."""
    t = now_ms() if now is None else now
    period = rekick_period_s()
    stale_before = timezone.now() - datetime.timedelta(seconds=period)
    due: list[tuple[Any, int]] = []
    pending = Submission.objects.filter(
        status=S.Status.PENDING, submitted_at__lt=stale_before,
        round__group__status=CooperativeGroup.Status.RUNNING,
    ).values_list("id", "kind")  # fmt: skip
    for sid, kind in pending:
        due.append((verify_task(kind), sid))
    rounds = Round.objects.filter(
        group__status=CooperativeGroup.Status.RUNNING, finished_at=None, status_reason=""
    )
    for r in rounds.only("id", "schedule", "aggregate_blob", "result_blob", "closed_phases"):
        closed = (r.schedule or {}).get("closed_ms", {})

        def overdue(phase: Phase, closed=closed) -> bool:
            return phase.value in closed and t - int(closed[phase.value]) > period * 1000

        if not r.aggregate_blob and overdue(Phase.T3):
            due.append((tasks.process_aggregate, r.id))
        elif r.aggregate_blob and not r.result_blob and overdue(Phase.T5):
            due.append((tasks.crypto_combine, r.id))
    kicked = []
    clock = time.monotonic()
    for task, oid in due:
        name = task.name.rpartition(".")[2]
        if clock - rekicked.get((name, oid), -1e18) < period:
            continue
        rekicked[(name, oid)] = clock
        log.warning("re-enqueueing overdue %s(%s)", name, oid)
        transaction.on_commit(partial(task.delay, oid))
        kicked.append((name, oid))
    return kicked


def _ready(r: Round, g: CooperativeGroup, phase: Phase, now: int, sched: RoundSchedule) -> bool:
    if r.status_reason:  # a failed round closes its remaining phases at once
        return True
    past = now > sched.deadline(phase)
    subs = r.submissions
    n = g.n_parties
    if phase == Phase.T1:
        on_time = subs.filter(kind=S.Kind.GRADIENT).exclude(status=S.Status.LATE).count()
        return past or on_time >= n
    if phase == Phase.T2:
        return not subs.filter(kind=S.Kind.GRADIENT, status=S.Status.PENDING).exists()
    if phase in (Phase.T3, Phase.T4):
        return True
    if phase in (Phase.T7, Phase.T8, Phase.T9):
        return bool(r.aggregate_blob) or bool(r.status_reason)
    if phase == Phase.T5:
        if subs.filter(kind=S.Kind.DECRYPTION_SHARE, status=S.Status.PENDING).exists():
            return False
        answers = (S.Kind.DECRYPTION_SHARE, S.Kind.DECRYPTION_REFUSAL)
        on_time = subs.filter(kind__in=answers).exclude(status=S.Status.LATE).count()
        return past or on_time >= n
    if phase == Phase.T6:
        return bool(r.result_blob) or bool(r.status_reason)
    return False


def advance_round(round_id: int, now: int | None = None) -> list[str]:
    """Close, in order, each phase of the round whose inputs are in or whose deadline passed.

    Each close happens once (row lock + ``closed_phases``), records a CLOCK transaction, applies
    updateTime() (a late close extends the later deadlines) and runs the phase's settlement.
    """
    closed: list[str] = []
    while True:
        t = now_ms() if now is None else now
        with transaction.atomic():
            r = Round.objects.select_for_update().select_related("group").get(pk=round_id)
            g = r.group
            if r.finished_at is not None or g.status != CooperativeGroup.Status.RUNNING:
                return closed
            sched = selectors.schedule_of(r)
            phase = sched.current_phase(t)
            if phase is None or not _ready(r, g, phase, t, sched):
                return closed
            new = sched.close_phase(phase, max(t, sched.opens_at(phase)))
            assert new is not None and phase.value not in r.closed_phases
            r.schedule = new.to_dict()
            r.closed_phases = [*r.closed_phases, phase.value]
            opened = new.opens_at(phase)
            r.phase_times = {
                **r.phase_times,
                phase.value: round((t - sched.opens_at(phase)) / 1000, 3),
            }
            nxt = new.current_phase(t)
            r.phase = nxt.value if nxt else "finished"
            r.save(update_fields=["schedule", "closed_phases", "phase_times", "phase"])
            del opened
            ledger.submit_transaction(
                kind=TxKind.CLOCK,
                signer=ledger.authority_identity(),
                group=g.address,
                round=r.number,
                phase=phase.value,
                payload={
                    "closed": phase.value,
                    "closed_at_ms": new.closed_at(phase),
                    "deadline_ms": sched.deadline(phase),
                    # T6 "return": the published decrypted aggregate S (auditors re-combine)
                    # and W_r (auditors re-derive it with the group's strategy)
                    **(
                        {
                            "result_blob": r.result_blob,
                            "n_accepted": r.n_accepted,
                            "params_blob": r.params_blob,
                        }
                        if phase == Phase.T6 and r.result_blob
                        else {}
                    ),
                    # ... or the blame record: t valid shares whose aggregate does not decode
                    **(
                        {"decode_failed": r.status_reason[:200], "n_accepted": r.n_accepted}
                        if phase == Phase.T6 and r.status_reason.startswith(DECODE_FAILED)
                        else {}
                    ),
                },
            )
            _on_close(r, g, phase, t)
            publish(g.id, "phase_changed", round=r.number, phase=r.phase, closed=phase.value,
                    deadlines=selectors.deadlines_of(r),
                    closed_at_ms=new.closed_at(phase))  # fmt: skip
            closed.append(phase.value)


def _on_close(r: Round, g: CooperativeGroup, phase: Phase, t: int) -> None:
    if phase == Phase.T2:
        s = settle(r, g, S.Kind.GRADIENT, t)
        r.n_accepted = len(s.honest)
        if not s.honest:
            r.status_reason = "no accepted gradient: nothing to aggregate"
        elif len(s.honest) < g.min_contributors:
            r.status_reason = (
                f"only {len(s.honest)} accepted updates, fewer than min_contributors = "
                f"{g.min_contributors}: the round closes without any decryption (an aggregate "
                "of so few updates would reveal them)"
            )
        r.save(update_fields=["n_accepted", "status_reason"])
        if r.status_reason:
            publish(g.id, "round_failed", round=r.number, reason=r.status_reason)
    elif phase == Phase.T3 and not r.status_reason:
        transaction.on_commit(partial(tasks.process_aggregate.delay, r.id))
    elif phase == Phase.T5 and not r.status_reason:
        s = settle(r, g, S.Kind.DECRYPTION_SHARE, t)
        if not s.decryptable:
            t_key = selectors.public_key_of(g).t
            r.status_reason = f"fewer than t = {t_key} valid decryption shares"
            r.save(update_fields=["status_reason"])
        else:
            transaction.on_commit(partial(tasks.crypto_combine.delay, r.id))
    elif phase == Phase.T6:
        _finish_round(r, g)


def _finish_round(r: Round, g: CooperativeGroup) -> None:
    r.finished_at = timezone.now()
    r.save(update_fields=["finished_at"])
    if r.status_reason and not r.params_blob:
        r.params_blob = selectors.params_before(r)
        r.save(update_fields=["params_blob"])
    publish(g.id, "round_finished", round=r.number, accuracy=r.accuracy, reason=r.status_reason)
    if r.status_reason:
        # a failed round ends the group: the next rounds would fail (and penalise) the same way
        end_group(g, CooperativeGroup.Status.FAILED, f"round {r.number}: {r.status_reason}")
    elif r.number < g.rounds:
        start_round(g, r.number + 1)
    else:
        end_group(g, CooperativeGroup.Status.FINISHED, "")
