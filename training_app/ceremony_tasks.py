"""Celery tasks of the dealerless key ceremony (``training_app.key_ceremony``): thin, ids only.

Registered under ``training_app.tasks.*`` names so the routing of deepchain_web/celery.py
applies (crypto_* -> crypto, party_* -> party, the clock -> training); a module of its own
because the ceremony's service module sits above ``training_app.services`` (which enqueues
these by name).
"""

from __future__ import annotations

import logging
import time

from celery import shared_task

from training_app import key_ceremony
from training_app.tasks import simulated_agent

log = logging.getLogger(__name__)

#: beyond a round's allowance, how long the simulated parties' loop waits without progress
CEREMONY_SLACK_S = 30.0


@shared_task(name="training_app.tasks.crypto_open_ceremony", ignore_result=True)
def crypto_open_ceremony(group_id: int) -> bool:
    return key_ceremony.open_ceremony(group_id)


@shared_task(name="training_app.tasks.crypto_verify_ceremony", ignore_result=True)
def crypto_verify_ceremony(ceremony_id: int) -> bool:
    return key_ceremony.verify_ceremony(ceremony_id)


@shared_task(name="training_app.tasks.tick_key_ceremonies", ignore_result=True)
def tick_key_ceremonies() -> int:
    """The trusted clock for key ceremonies (beat): end every one past its deadline."""
    return key_ceremony.close_due()


@shared_task(name="training_app.tasks.party_ceremony", ignore_result=True)
def party_ceremony(group_id: int) -> int:
    """The group's simulated parties take part in its key ceremony: the same client as the
    CLI (``PartyAgent.ceremony_step``, REST only), stepped in turn in this one process, which
    keeps their ceremony state in memory until every one is done, the ceremony has ended, or
    nothing has happened for a round's allowance + CEREMONY_SLACK_S (the platform is gone, or
    the clock has not been applied). Returns the steps taken."""
    from training_app.models import KeyCeremony, Membership

    def open_() -> KeyCeremony | None:
        return KeyCeremony.objects.filter(
            group_id=group_id,
            status__in=(KeyCeremony.Status.RUNNING, KeyCeremony.Status.VERIFYING),
        ).first()

    c = open_()
    idle_s = (c.round_ms / 1000 if c else 0) + CEREMONY_SLACK_S

    ids = Membership.objects.filter(
        group_id=group_id, simulated=True, status=Membership.Status.ACTIVE
    ).values_list("id", flat=True)
    active = [simulated_agent(mid) for mid in ids]
    steps, last = 0, time.monotonic()
    answered = last  # when the platform last answered any of them
    while active and open_() is not None and time.monotonic() - last < idle_s:
        progressed = False
        for agent in list(active):
            did = agent.ceremony_step(refusal="error")
            if did != "error":
                answered = time.monotonic()
            if did == "done":
                active.remove(agent)
            elif did not in ("waiting", "silent", "error"):
                progressed, steps = True, steps + 1
        if progressed:
            last = time.monotonic()
        elif time.monotonic() - answered > CEREMONY_SLACK_S:
            log.warning("group %s: the platform has not answered for %.0f s", group_id,
                        CEREMONY_SLACK_S)  # fmt: skip
            break
        else:
            time.sleep(0.2)
    return steps
