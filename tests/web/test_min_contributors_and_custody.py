"""No group of fewer than 3 parties (API 400 JSON, form error, service refusal); custody: the
platform holds party identities only in a group marked simulated, shown on its pages."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from deepchain_web.api_errors import DomainError

BASE = {"name": "g", "threshold": 2, "rounds": 1, "deposit": 5}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields, field",
    [
        ({"n_parties": 2}, "n_parties"),
        ({"n_parties": 4, "min_contributors": 2}, "min_contributors"),
    ],
)
def test_the_api_refuses_a_group_of_fewer_than_three_contributors(make_user, fields, field):
    from training_app.models import CooperativeGroup

    client = APIClient()
    client.force_authenticate(make_user())
    r = client.post("/api/groups/", {**BASE, **fields}, format="json")
    assert r.status_code == 400 and field in r.json()["message"], r.content
    assert "3" in r.json()["message"] and not CooperativeGroup.objects.exists()


@pytest.mark.django_db
def test_the_create_form_refuses_two_parties_with_a_field_error(client, make_user):
    from training_app.models import CooperativeGroup

    client.force_login(make_user())
    form = {"name": "pair", "task": "t", "model_name": "tiny", "n_parties": 2, "threshold": 2,
            "min_contributors": 3, "rounds": 1, "deposit": 5, "partition": "iid",
            "local_iterations": 1, "phase_seconds": 5}  # fmt: skip
    r = client.post("/groups/new/", form)
    assert r.status_code == 200 and not CooperativeGroup.objects.exists()
    assert "greater than or equal to 3" in r.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("n, m", [(2, 3), (4, 2), (3, 4)])
def test_the_service_refuses_n_or_min_contributors_out_of_range(make_user, n, m):
    from training_app.services import create_group

    with pytest.raises(DomainError) as exc:
        create_group(initiator=make_user(), name="x", n_parties=n, threshold=2, rounds=1,
                     deposit=5, key_bits=512, min_contributors=m)  # fmt: skip
    assert exc.value.code in ("bad_n", "bad_min_contributors")


@pytest.mark.django_db
def test_a_real_group_refuses_custodial_wallets_and_simulated_parties(client, make_user):
    from training_app.models import Membership
    from training_app.services import create_group, join_group

    owner = make_user()
    real = create_group(initiator=owner, name="real", n_parties=3, threshold=2, rounds=1,
                        deposit=5, key_bits=512)  # fmt: skip
    for simulated in (False, True):
        with pytest.raises(DomainError) as exc:
            join_group(group=real, user=owner, simulated=simulated)
        assert exc.value.status_code == 409
        assert exc.value.code == ("not_simulated" if simulated else "custodial")
    assert not Membership.objects.filter(group=real).exists()
    # the demo kind: marked simulated, which every page showing it says
    demo = create_group(initiator=owner, name="demo", n_parties=3, threshold=2, rounds=1,
                        deposit=5, key_bits=512, simulated=True)  # fmt: skip
    join_group(group=demo, user=owner, simulated=True)
    client.force_login(owner)
    for url in (f"/groups/{demo.id}/", f"/groups/{demo.id}/dashboard/", "/groups/"):
        assert 'class="badge simulated"' in client.get(url).content.decode(), url
    real_page = client.get(f"/groups/{real.id}/").content.decode()
    assert 'class="badge simulated"' not in real_page
    assert 'id="join-form"' not in real_page  # no browser join offered: it would be refused
    other = make_user()
    client.force_login(other)
    assert 'id="join-form"' in client.get(f"/groups/{demo.id}/").content.decode()
    client.force_login(owner)
    api = APIClient()
    api.force_authenticate(owner)
    assert api.get(f"/api/groups/{demo.id}/").json()["group"]["simulated"] is True
    assert {g["id"]: g["simulated"] for g in api.get("/api/groups/").json()} == {
        demo.id: True, real.id: False}  # fmt: skip
