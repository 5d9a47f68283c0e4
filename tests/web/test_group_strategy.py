"""A group's aggregation strategy: chosen on the create form or through the API (validated,
4xx JSON on bad input), stored with the group, recorded in Tran_co (GROUP_CREATE) and served to
the agents."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from deepchain.learning.strategies import DEFAULT_STRATEGY, Strategy

BASE = {"name": "skewed", "n_parties": 3, "threshold": 2, "rounds": 1, "deposit": 10,
        "simulated": True, "key_origin": "dealer"}  # fmt: skip


def _api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_the_api_records_the_chosen_strategy_and_tran_co_carries_it(make_user):
    from ledger_app.models import Transaction
    from training_app import selectors, services
    from training_app.models import CooperativeGroup

    a, b, c = make_user(), make_user(), make_user()
    res = _api(a).post(
        "/api/groups/",
        {**BASE, "strategy": "fedadam", "server_lr": 0.02, "tau": 0.01, "prox_mu": 0.05},
        format="json",
    )
    assert res.status_code == 201, res.content
    g = CooperativeGroup.objects.get(pk=res.json()["id"])
    g.key_bits = 512
    g.save(update_fields=["key_bits"])
    want = Strategy.from_options("fedadam", server_lr=0.02, tau=0.01, mu=0.05)
    assert selectors.strategy_of(g) == want
    for u in (a, b, c):
        services.join_group(group=g, user=u, simulated=True)
    services.start_group(group=g, by=a)
    assert services.run_key_ceremony(g.id) is True
    tx = Transaction.objects.get(group_ref=g.address, kind="group_create")
    assert Strategy.from_json(tx.payload["strategy"]) == want
    me = _api(a).get(f"/api/groups/{g.id}/me/")
    assert Strategy.from_json(me.json()["strategy"]) == want


def test_a_group_created_without_a_strategy_runs_the_measured_default(make_user, make_group):
    from training_app import selectors

    g = make_group(make_user())
    assert selectors.strategy_of(g) == DEFAULT_STRATEGY == Strategy("fedavgm", beta1=0.5)
    assert g.strategy == DEFAULT_STRATEGY.to_json()
    from training_app.models import CooperativeGroup

    res = _api(make_user()).post("/api/groups/", BASE, format="json")
    assert res.status_code == 201, res.content
    api_group = CooperativeGroup.objects.get(pk=res.json()["id"])
    assert selectors.strategy_of(api_group) == DEFAULT_STRATEGY


def test_a_group_recorded_without_a_strategy_still_runs_fedavg(make_user, make_group):
    from training_app import selectors

    g = make_group(make_user())
    g.strategy = {}
    assert selectors.strategy_of(g) == Strategy()


@pytest.mark.parametrize(
    "extra, field, status",
    [
        ({"strategy": "scaffold"}, "strategy", 400),
        ({"strategy": "fedadam", "beta1": 1.5}, "beta1", 400),
        ({"strategy": "fedyogi", "tau": 0}, "tau", 400),
        ({"strategy": "fedavgm", "server_lr": -1}, "server_lr", 400),
        ({"strategy": "fedavg", "prox_mu": "lots"}, "prox_mu", 400),
        # within every field's range, refused by a rule across fields
        ({"strategy": "fedavg", "server_lr": 0.5}, "strategy", 409),
        ({"threshold": 4}, "threshold", 409),
        ({"min_contributors": 4}, "min_contributors", 409),
        ({"n_parties": 2}, "n_parties", 400),
    ],
)
def test_a_field_out_of_range_is_400_a_rule_across_fields_409(make_user, extra, field, status):
    from training_app.models import CooperativeGroup

    res = _api(make_user()).post("/api/groups/", {**BASE, **extra}, format="json")
    assert res.status_code == status, res.content
    assert res["Content-Type"].startswith("application/json")
    assert field in res.content.decode()
    assert not CooperativeGroup.objects.exists()


def _form(**extra) -> dict:
    return {
        "name": "form group", "task": "MNIST", "model_name": "tiny", "n_parties": 3,
        "threshold": 2, "rounds": 1, "deposit": 10, "partition": "dirichlet",
        "local_iterations": 5, "phase_seconds": 30, "key_bits": 512, **extra,
    }  # fmt: skip


def test_the_create_form_takes_the_strategy(client, make_user):
    from training_app import selectors
    from training_app.models import CooperativeGroup

    u = make_user()
    client.force_login(u)
    page = client.get("/groups/new/").content.decode()
    assert 'name="strategy"' in page and 'name="prox_mu"' in page
    res = client.post("/groups/new/", _form(strategy="fedavgm", beta1=0.5, prox_mu=0.01))
    assert res.status_code == 302, res.content.decode()[:2000]
    g = CooperativeGroup.objects.get(name="form group")
    assert selectors.strategy_of(g) == Strategy.from_options("fedavgm", beta1=0.5, mu=0.01)


def test_the_create_form_explains_a_bad_strategy_and_creates_nothing(client, make_user):
    from training_app.models import CooperativeGroup

    client.force_login(make_user())
    res = client.post("/groups/new/", _form(strategy="fedavg", server_lr=0.5))
    assert res.status_code == 200
    assert "no server learning rate" in res.content.decode()
    res = client.post("/groups/new/", _form(strategy="fedadam", beta2=2))
    assert res.status_code == 200
    assert not CooperativeGroup.objects.exists()
