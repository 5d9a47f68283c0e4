"""The clock re-enqueues the platform's overdue work (a task message lost with a dying worker),
once per rekick period, and nothing that is merely in progress."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from ledger_app import services as ledger
from training_app import services
from training_app.models import CooperativeGroup, Round, Submission
from training_app.services import clock

pytestmark = pytest.mark.django_db


def test_overdue_work_is_re_enqueued_once_per_period_and_fresh_work_is_left_alone(
    django_user_model, settings
):
    settings.DEEPCHAIN_REKICK_S = 30
    clock.rekicked.clear()
    user = django_user_model.objects.create_user("rk", password="pw")
    ledger.create_party_account(user=user)
    g = services.create_group(initiator=user, name="rk", n_parties=3, threshold=2, rounds=1,
                              deposit=10, key_bits=512, simulated=True)  # fmt: skip
    m = services.join_group(group=g, user=user, data_size=5)
    CooperativeGroup.objects.filter(pk=g.pk).update(status="running")
    now = services.now_ms()
    old = Round.objects.create(group=g, number=1, schedule={"closed_ms": {"upload": now - 60_000}})
    fresh = Round.objects.create(group=g, number=2, schedule={"closed_ms": {"upload": now - 1_000}})
    stale_sub = Submission.objects.create(round=old, membership=m, kind="gradient")
    Submission.objects.filter(pk=stale_sub.pk).update(
        submitted_at=timezone.now() - datetime.timedelta(seconds=60)
    )
    Submission.objects.create(round=fresh, membership=m, kind="gradient")  # just submitted

    kicked = services.rekick_stale_work(now)
    assert sorted(kicked) == [("crypto_verify_gradient", stale_sub.id),
                              ("process_aggregate", old.id)]  # fmt: skip
    assert services.rekick_stale_work(now) == []  # not again within the period
    Submission.objects.filter(pk=stale_sub.pk).update(status="accepted")
    Round.objects.filter(pk=old.pk).update(aggregate_blob="ab" * 32)
    clock.rekicked.clear()
    assert services.rekick_stale_work(now) == []  # done work is never re-enqueued
