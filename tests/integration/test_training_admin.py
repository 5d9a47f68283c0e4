"""The training admin is read-only for auditors: lists with filters, no add/change/delete."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from ledger_app import services as ledger
from training_app import services
from training_app.models import CooperativeGroup, Membership

pytestmark = pytest.mark.django_db

MODELS = ("cooperativegroup", "membership", "round", "submission", "metric")


@pytest.fixture
def auditor(django_user_model):
    user = django_user_model.objects.create_user("eve-auditor", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="auditor"))
    return user


def test_an_auditor_lists_every_training_model_with_filters_but_changes_nothing(
    client, auditor, django_user_model
):
    initiator = django_user_model.objects.create_user("ini", password="pw")
    ledger.create_party_account(user=initiator)
    g = services.create_group(initiator=initiator, name="audited", n_parties=3, threshold=2,
                              rounds=1, deposit=10, key_bits=512, simulated=True)  # fmt: skip
    m = services.join_group(group=g, user=initiator, data_size=5)
    client.force_login(auditor)
    for model in MODELS:
        assert client.get(f"/admin/training_app/{model}/").status_code == 200, model
        assert client.get(f"/admin/training_app/{model}/add/").status_code == 403, model
    filters = ["round/?phase=decryption_share", "round/?number=1",
               "submission/?status=accepted", "submission/?round__phase=verification",
               "submission/?round__number=1", "metric/?round__number=1",
               "cooperativegroup/?status=recruiting", "membership/?status=active"]  # fmt: skip
    for f in filters:
        r = client.get(f"/admin/training_app/{f}")  # an unknown filter redirects (302)
        assert r.status_code == 200, f
    page = client.get(f"/admin/training_app/membership/{m.pk}/change/")
    assert page.status_code == 200 and b"sealed_key_share" not in page.content
    assert client.post(f"/admin/training_app/membership/{m.pk}/change/",
                       {"status": "dropped"}).status_code == 403  # fmt: skip
    assert client.post(f"/admin/training_app/cooperativegroup/{g.pk}/delete/",
                       {"post": "yes"}).status_code == 403  # fmt: skip
    assert Membership.objects.get(pk=m.pk).status == "active"
    assert CooperativeGroup.objects.filter(pk=g.pk).exists()
