"""A group's optional L2 bound: chosen on the create form or through the API (400 JSON for a
non-positive, non-finite or out-of-range value), stored with the group, in its packing record
(so in GROUP_CREATE on chain), served to the agents and shown on the group page beside the
L-infinity bound; a group without one has none anywhere."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from deepchain.crypto.encoding import PackingScheme

BASE = {"name": "l2", "n_parties": 3, "threshold": 2, "rounds": 1, "deposit": 10,
        "simulated": True, "key_origin": "dealer", "model_name": "tiny"}  # fmt: skip


def _api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def _started(g, users):
    from training_app import services
    from training_app.models import CooperativeGroup

    for u in users:
        services.join_group(group=g, user=u, simulated=True)
    services.start_group(group=g, by=users[0])
    assert services.run_key_ceremony(g.id) is True
    return CooperativeGroup.objects.get(pk=g.pk)


def test_the_api_records_the_l2_clip_in_the_packing_on_chain_and_the_page_shows_it(
    make_user, client
):
    from ledger_app.models import Transaction
    from training_app.models import CooperativeGroup

    a, b, c = make_user(), make_user(), make_user()
    res = _api(a).post("/api/groups/", {**BASE, "l2_clip": 0.5}, format="json")
    assert res.status_code == 201, res.content
    g = CooperativeGroup.objects.get(pk=res.json()["id"])
    assert g.l2_clip == 0.5
    g.key_bits = 512
    g.save(update_fields=["key_bits"])
    g = _started(g, (a, b, c))
    scheme = PackingScheme.from_json(g.packing)
    assert scheme.l2_bound == round(0.5 * scheme.scale) == 2**15  # tiny: scale 2^16
    tx = Transaction.objects.get(group_ref=g.address, kind="group_create")
    assert PackingScheme.from_json(tx.payload["packing"]).l2_bound == scheme.l2_bound
    me = _api(a).get(f"/api/groups/{g.id}/me/").json()
    assert me["l2_clip"] == 0.5 and me["packing"]["l2_bound"] == 2**15
    client.force_login(b)
    html = client.get(f"/groups/{g.id}/").content.decode()
    assert 'id="update-bound"' in html and 'id="l2-bound"' in html
    assert "‖dW‖₂ ≤ 0.5" in html and f"‖q‖₂ ≤ {2**15} in quantized units" in html


def test_a_group_without_an_l2_clip_has_no_l2_bound_anywhere(make_user, make_group, client):
    a, b, c = make_user(), make_user(), make_user()
    g = _started(make_group(a, model_name="tiny"), (a, b, c))
    assert g.l2_clip is None and "l2_bound" not in g.packing
    client.force_login(b)
    html = client.get(f"/groups/{g.id}/").content.decode()
    assert 'id="update-bound"' in html and 'id="l2-bound"' not in html


@pytest.mark.parametrize("bad", [0, -1.0, 1e-9, 1e30, "1.0", True, [1.0]])
def test_the_api_refuses_a_bad_l2_clip_with_400_json(make_user, bad):
    from training_app.models import CooperativeGroup

    res = _api(make_user()).post("/api/groups/", {**BASE, "l2_clip": bad}, format="json")
    assert res.status_code == 400, res.content
    assert "l2_clip" in res.content.decode()
    assert not CooperativeGroup.objects.exists()


def test_the_api_refuses_a_non_finite_l2_clip_with_400_json(make_user):
    c = _api(make_user())
    for raw in ('{"l2_clip": NaN}', '{"l2_clip": Infinity}', '{"l2_clip": 1e999}'):
        body = raw.replace("{", "{" + ", ".join(f'"{k}": {_js(v)}' for k, v in BASE.items()) + ", ")
        res = c.post("/api/groups/", body, content_type="application/json")
        assert res.status_code == 400, (raw, res.content)
        assert res["Content-Type"].startswith("application/json")


def _js(v) -> str:
    import json

    return json.dumps(v)


def test_the_service_refuses_a_bad_l2_clip_too(make_user, make_group):
    from deepchain_web.api_errors import DomainError

    for bad in (0.0, float("nan"), float("inf"), 1e-9):
        with pytest.raises(DomainError) as exc:
            make_group(make_user(), l2_clip=bad)
        assert exc.value.code == "bad_l2_clip" and exc.value.status_code == 400


def test_the_openapi_schema_documents_the_l2_clip(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "l2_clip" in schema and "sum q^2" in schema


def _form(**extra) -> dict:
    return {
        "name": "form group", "task": "MNIST", "model_name": "tiny", "n_parties": 3,
        "threshold": 2, "rounds": 1, "deposit": 10, "partition": "iid",
        "local_iterations": 5, "phase_seconds": 30, "key_bits": 512, "strategy": "fedavg",
        **extra,
    }  # fmt: skip


def test_the_create_form_takes_the_l2_clip_and_explains_a_bad_one(client, make_user):
    from training_app.models import CooperativeGroup

    client.force_login(make_user())
    page = client.get("/groups/new/").content.decode()
    assert 'name="l2_clip"' in page
    for bad in ("0", "-2", "1e-9", "nan", "inf"):
        res = client.post("/groups/new/", _form(l2_clip=bad))
        assert res.status_code == 200, bad
    assert not CooperativeGroup.objects.exists()
    res = client.post("/groups/new/", _form(l2_clip="0.25"))
    assert res.status_code == 302, res.content.decode()[:2000]
    assert CooperativeGroup.objects.get(name="form group").l2_clip == 0.25
    res = client.post("/groups/new/", _form(name="no l2"))
    assert res.status_code == 302
    assert CooperativeGroup.objects.get(name="no l2").l2_clip is None


def test_the_l2_clip_range_the_schema_states_is_what_every_model_accepts(make_user):
    from deepchain.crypto.packing import L2_CLIP_MAX, L2_CLIP_MIN, l2_bound_error
    from deepchain.learning.models import MODELS

    for model in MODELS:
        assert l2_bound_error(model, L2_CLIP_MIN) is None, model
        assert l2_bound_error(model, L2_CLIP_MAX) is None, model
        assert l2_bound_error(model, L2_CLIP_MIN * 0.999) is not None
        assert l2_bound_error(model, L2_CLIP_MAX * 1.001) is not None
    schema = _api(make_user()).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    field = schema["components"]["schemas"]["GroupCreate"]["properties"]["l2_clip"]
    assert (field["minimum"], field["maximum"]) == (L2_CLIP_MIN, L2_CLIP_MAX)
    res = _api(make_user()).post("/api/groups/", {**BASE, "l2_clip": L2_CLIP_MIN}, format="json")
    assert res.status_code == 201, res.content
