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

#: a simulated party's ceremony loop gives up after this many seconds without progress
CEREMONY_IDLE_S = 600.0


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
    keeps their ceremony state in memory until every one is done. Returns the steps taken."""
    from training_app.models import Membership

    ids = Membership.objects.filter(
        group_id=group_id, simulated=True, status=Membership.Status.ACTIVE
    ).values_list("id", flat=True)
    active = [simulated_agent(mid) for mid in ids]
    steps, last = 0, time.monotonic()
    while active and time.monotonic() - last < CEREMONY_IDLE_S:
        progressed = False
        for agent in list(active):
            did = agent.ceremony_step(refusal="error")
            if did == "done":
                active.remove(agent)
            elif did not in ("waiting", "silent", "error"):
                progressed, steps = True, steps + 1
        if progressed:
            last = time.monotonic()
        else:
            time.sleep(0.2)
    return steps
