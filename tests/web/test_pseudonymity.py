"""Members are pseudonymous: other users see their on-chain address and party index, never
their username; a member sees their own username, staff see everyone's (API and pages)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def recruiting(make_user, make_group):
    from training_app.services import join_group

    names = {"init": "ivy-initiator-name", "member": "bob-member-name"}
    init, member = make_user(names["init"]), make_user(names["member"])
    group = make_group(init, n_parties=3)
    join_group(group=group, user=member, data_size=10)
    return group, init, member, names


def _api(user, group) -> str:
    client = APIClient()
    client.force_authenticate(user)
    r = client.get(f"/api/groups/{group.id}/")
    assert r.status_code == 200, r.content
    return json.dumps(r.json())


def _page(user, group) -> str:
    client = Client()
    client.force_login(user)
    r = client.get(f"/groups/{group.id}/")
    assert r.status_code == 200
    return r.content.decode()


def test_a_stranger_sees_members_by_address_and_index_not_username(recruiting, make_user):
    group, init, member, names = recruiting
    stranger = make_user("stranger")
    for text in (_api(stranger, group), _page(stranger, group)):
        assert names["init"] not in text and names["member"] not in text
    members = json.loads(_api(stranger, group))["members"]
    assert {m["party"] for m in members} >= {member.account.address}
    assert all(m["user"] is None for m in members)


def test_a_member_sees_only_their_own_username(recruiting):
    group, init, member, names = recruiting
    for text in (_api(member, group), _page(member, group)):
        assert names["member"] in text and names["init"] not in text


def test_staff_see_every_username(recruiting, make_user):
    group, init, member, names = recruiting
    staff = make_user("staff-auditor")
    staff.is_staff = True
    staff.save()
    text = _api(staff, group)
    assert names["member"] in text
