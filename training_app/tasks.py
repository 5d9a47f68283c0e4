"""Celery tasks of collaborative training: thin, idempotent, taking ids.

Routing (deepchain_web/celery.py): party_* -> party, crypto_* -> crypto, process_* ->
consensus, others (tick_clock) -> training. Each task calls one service that checks, under a
row lock, whether its work is already done, so a retried or duplicated task changes nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from celery import shared_task
from django.conf import settings

from training_app import services

log = logging.getLogger(__name__)

#: how many times a simulated party re-polls when a wake-up finds nothing to do yet
PARTY_RETRIES = 60


@shared_task(name="training_app.tasks.tick_clock", ignore_result=True)
def tick_clock() -> int:
    """The protocol clock (beat): close every due phase exactly once."""
    return services.close_due_phases()


@shared_task(name="training_app.tasks.crypto_keygen", ignore_result=True)
def crypto_keygen(group_id: int) -> bool:
    return services.run_key_ceremony(group_id)


@shared_task(name="training_app.tasks.crypto_verify_gradient", ignore_result=True)
def crypto_verify_gradient(submission_id: int) -> bool:
    return services.verify_gradient(submission_id)


@shared_task(name="training_app.tasks.crypto_verify_share", ignore_result=True)
def crypto_verify_share(submission_id: int) -> bool:
    return services.verify_share(submission_id)


@shared_task(name="training_app.tasks.process_aggregate", ignore_result=True)
def process_aggregate(round_id: int) -> bool:
    return services.process_aggregate(round_id)


@shared_task(name="training_app.tasks.crypto_combine", ignore_result=True)
def crypto_combine(round_id: int) -> bool:
    return services.combine_round(round_id)


_agents: dict[int, object] = {}


def agent_dir(address: str) -> Path:
    """A simulated party's private directory (identity, data, local records), per account."""
    return Path(settings.DEEPCHAIN_KEYSTORE) / "agents" / address[:24]


def simulated_agent(membership_id: int):
    """The PartyAgent of a simulated member (same code as the CLI), cached per process."""
    from rest_framework.authtoken.models import Token

    from deepchain.party import IDENTITY_FILE, AgentConfig, PartyAgent
    from ledger_app.services import party_identity
    from training_app.datasets import write_party_data
    from training_app.models import Membership

    agent = _agents.get(membership_id)
    if agent is not None:
        return agent
    m = Membership.objects.select_related("group", "user", "account").get(pk=membership_id)
    home = agent_dir(m.account.address)
    ident_path = home / IDENTITY_FILE
    if not ident_path.exists():  # the simulated party holds its own copy of its keys
        party_identity(m.account).save(ident_path)
    data = home / f"data-group{m.group_id}"
    write_party_data(m.group, m.party_index, data)
    token, _ = Token.objects.get_or_create(user=m.user)
    api = (
        m.group.api_url
        or os.environ.get("DEEPCHAIN_API_URL")
        or getattr(settings, "DEEPCHAIN_API_URL", "http://127.0.0.1:8000")
    )
    cfg = AgentConfig(
        api=api, token=token.key, data_dir=data, keystore=home, group=m.group_id,
        behaviour=m.behaviour, seed=m.group.seed,
        record_updates=bool(getattr(settings, "DEEPCHAIN_AGENT_RECORD_UPDATES", False)),
    )  # fmt: skip
    agent = PartyAgent(cfg)
    _agents[membership_id] = agent
    return agent


@shared_task(name="training_app.tasks.party_step", ignore_result=True)
def party_step(membership_id: int, attempt: int = 0) -> str:
    """A simulated party's agent does what is due now (woken at round start, when the
    aggregate is appended, and at the end); re-polls a bounded number of times if early."""
    from deepchain.party import ApiError

    agent = simulated_agent(membership_id)
    did, did_any = "idle", False
    try:
        for _ in range(4):
            did = agent.step()
            if did in ("idle", "waiting", "silent", "done"):
                break
            did_any = True
    except (ApiError, OSError) as exc:
        log.warning("party %s: %s", membership_id, exc)
        did = "error"
    if not did_any and did in ("idle", "waiting", "error") and attempt < PARTY_RETRIES:
        party_step.apply_async((membership_id, attempt + 1), countdown=1)
    return did
