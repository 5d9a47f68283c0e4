"""Who makes a group's Paillier key: the parties (dealerless) unless a dealer is asked for, and
a dealer, who knows the factorization of n and so could decrypt every update, only for a
simulated group (whose parties' keys the platform holds anyway) unless the test/bench setting
DEEPCHAIN_ALLOW_DEALER_KEY allows it. Through the API and the create form."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

BASE = {"name": "g", "n_parties": 3, "threshold": 2, "rounds": 1, "deposit": 5,
        "model_name": "tiny"}  # fmt: skip
FORM = {"task": "digits", "model_name": "tiny", "key_bits": "512", "n_parties": "3",
        "threshold": "2", "rounds": "1", "deposit": "40", "partition": "iid",
        "local_iterations": "5", "strategy": "fedavg", "training_seconds": "60",
        "share_seconds": "60", "phase_seconds": "30"}  # fmt: skip


def _api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def no_dealer(settings):
    settings.DEEPCHAIN_ALLOW_DEALER_KEY = False


@pytest.mark.django_db
@pytest.mark.parametrize("simulated", [False, True])
def test_a_group_made_through_the_api_is_dealerless_by_default(make_user, no_dealer, simulated):
    from training_app.models import CooperativeGroup

    r = _api(make_user()).post("/api/groups/", {**BASE, "simulated": simulated}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["key_origin"] == "dealerless"
    assert CooperativeGroup.objects.get(pk=r.json()["id"]).key_origin == "dealerless"


@pytest.mark.django_db
def test_the_api_refuses_a_dealer_key_for_a_real_group_with_409(make_user, no_dealer):
    from training_app.models import CooperativeGroup

    r = _api(make_user()).post("/api/groups/", {**BASE, "key_origin": "dealer"}, format="json")
    assert r.status_code == 409 and r["Content-Type"].startswith("application/json")
    assert r.json()["code"] == "dealer_key_refused"
    assert "decrypt every update" in r.json()["message"]
    assert not CooperativeGroup.objects.exists()


@pytest.mark.django_db
def test_a_simulated_group_may_still_ask_for_a_dealer(make_user, no_dealer):
    body = {**BASE, "key_origin": "dealer", "simulated": True}
    r = _api(make_user()).post("/api/groups/", body, format="json")
    assert r.status_code == 201 and r.json()["key_origin"] == "dealer", r.content


@pytest.mark.django_db
def test_the_test_setting_allows_a_dealer_for_a_real_group(make_user, settings):
    settings.DEEPCHAIN_ALLOW_DEALER_KEY = True
    r = _api(make_user()).post("/api/groups/", {**BASE, "key_origin": "dealer"}, format="json")
    assert r.status_code == 201 and r.json()["key_origin"] == "dealer", r.content


@pytest.mark.django_db
def test_the_service_refuses_a_dealer_key_for_a_real_group(make_user, no_dealer):
    from deepchain_web.api_errors import DomainError
    from training_app.services import create_group

    with pytest.raises(DomainError) as exc:
        create_group(initiator=make_user(), name="x", n_parties=3, threshold=2, rounds=1,
                     deposit=5, key_bits=512, key_origin="dealer")  # fmt: skip
    assert exc.value.status_code == 409 and exc.value.code == "dealer_key_refused"


@pytest.mark.django_db
def test_the_create_form_offers_dealerless_first_and_the_group_page_says_so(
    client, make_user, no_dealer
):
    from training_app.models import CooperativeGroup

    client.force_login(make_user())
    page = client.get("/groups/new/").content.decode()
    assert 'name="key_origin"' in page
    assert '<option value="dealerless" selected>' in page
    r = client.post("/groups/new/", {**FORM, "name": "real"}, follow=True)
    g = CooperativeGroup.objects.get(name="real")
    assert g.key_origin == "dealerless" and not g.simulated
    assert 'data-key-origin="dealerless"' in r.content.decode()


@pytest.mark.django_db
def test_the_create_form_refuses_a_dealer_for_a_real_group_and_says_why(
    client, make_user, no_dealer
):
    from training_app.models import CooperativeGroup

    client.force_login(make_user())
    form = {**FORM, "name": "real", "key_origin": "dealer"}
    text = client.post("/groups/new/", form).content.decode()
    assert "decrypt every update" in text
    assert not CooperativeGroup.objects.exists()
    form = {**form, "name": "demo", "simulated": "on"}
    client.post("/groups/new/", form)
    assert CooperativeGroup.objects.get(name="demo").key_origin == "dealer"
