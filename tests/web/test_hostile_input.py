"""A hostile client's inputs get a 4xx with a JSON ``message``, never a server error.

Each case is one input that used to reach the database or the decoder unvalidated (integer
overflows, non-ASCII digits, NUL bytes, JSON nested thousands deep, a missing round, paging
values DRF silently ignored, an oversized upload). Run against the real WSGI stack
(middleware, DRF, the database) through Django's test client.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token


@pytest.fixture
def member(make_user):
    """alice: an active party (index 1) of a running group that has no round 7."""
    from ledger_app.models import Account
    from training_app.models import CooperativeGroup, Membership, Round

    alice = make_user("alice")
    group = CooperativeGroup.objects.create(
        name="g", initiator=alice, address="group:" + "b" * 32, n_parties=2, threshold=2,
        rounds=1, deposit=100, key_bits=512, status="running",
    )  # fmt: skip
    Membership.objects.create(
        group=group, user=alice, account=Account.objects.get(user=alice), status="active",
        party_index=1,
    )  # fmt: skip
    Round.objects.create(group=group, number=1)
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    return client, group


def _post(client: Client, url: str, body) -> object:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


def _assert_json_4xx(response, *, status: int | tuple[int, ...] = 400) -> dict:
    allowed = status if isinstance(status, tuple) else (status,)
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


GROUP = {"name": "g", "n_parties": 3, "threshold": 2, "rounds": 1, "deposit": 10}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field,value",
    [("deposit", 2**63), ("local_iterations", 2**31), ("batch_size", 2**31),
     ("threshold", 2**31), ("dirichlet_alpha", 1e308), ("deadlines", {"T1": 2**63})],
)  # fmt: skip
def test_it_refuses_out_of_range_group_settings_with_400(member, field, value):
    from training_app.models import CooperativeGroup

    client, _ = member
    before = CooperativeGroup.objects.count()
    body = _assert_json_4xx(_post(client, "/api/groups/", {**GROUP, field: value}))
    assert field in json.dumps(body)
    assert CooperativeGroup.objects.count() == before


@pytest.mark.django_db
def test_it_still_accepts_a_group_at_the_range_limits(member):
    client, _ = member
    edge = {"local_iterations": 100_000, "batch_size": 60_000, "deadlines": {"T1": 1000}}
    r = _post(client, "/api/groups/", {**GROUP, **edge})
    assert r.status_code == 201, r.content


@pytest.mark.django_db
def test_it_refuses_a_data_size_beyond_the_column_with_400(member, make_user):
    from training_app.models import CooperativeGroup

    client, _ = member
    g = CooperativeGroup.objects.create(
        name="open", initiator=make_user("bob"), address="group:" + "c" * 32, n_parties=2,
        threshold=2, rounds=1, deposit=10, key_bits=512,
    )  # fmt: skip
    _assert_json_4xx(_post(client, f"/api/groups/{g.id}/join/", {"data_size": 2**31}))
    assert not g.members.exists()


@pytest.mark.django_db
def test_it_answers_metrics_for_a_missing_round_with_404(member):
    client, group = member
    url = f"/api/groups/{group.id}/rounds/7/metrics/"
    _assert_json_4xx(_post(client, url, {"accuracy": 0.5, "loss": 1.0}), status=404)


@pytest.mark.django_db
def test_it_refuses_bytes_sent_beyond_int64_with_400(member):
    client, group = member
    url = f"/api/groups/{group.id}/rounds/1/metrics/"
    body = {"accuracy": 0.5, "loss": 1.0, "bytes_sent": 2**63}
    assert "bytes_sent" in json.dumps(_assert_json_4xx(_post(client, url, body)))


@pytest.mark.django_db
@pytest.mark.parametrize("ref", ["%C2%B2", "%D9%A3", "1" * 40])
def test_a_non_ascii_or_huge_number_in_a_path_is_a_json_404(member, ref):
    client, _ = member
    _assert_json_4xx(client.get(f"/api/ledger/{ref}/"), status=404)


@pytest.mark.django_db
def test_a_huge_group_id_is_a_json_404(member):
    client, _ = member
    _assert_json_4xx(client.get("/api/groups/99999999999999999999999/"), status=404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/api/ledger/transactions/?kind=a%00b", "/api/ledger/transactions/?sender=%00",
            "/api/ledger/a%00b/", "/api/groups/?x%00=1"],
)  # fmt: skip
def test_a_nul_byte_in_a_filter_or_path_is_refused_with_400(member, url):
    client, _ = member
    _assert_json_4xx(client.get(url))


@pytest.mark.django_db
def test_a_nul_byte_inside_a_json_body_is_refused_with_400(member):
    client, _ = member
    _assert_json_4xx(_post(client, "/api/groups/", {**GROUP, "name": "a\u0000b"}))
    bad = {"to": "x", "amount": 1, "reason": {"k\u0000": 1}}
    _assert_json_4xx(_post(client, "/api/ledger/transfer/", bad))


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [40, 5000, 100_000])
def test_json_nested_thousands_deep_is_refused_with_400(member, depth):
    client, _ = member
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    _assert_json_4xx(_post(client, "/api/groups/", body))


@pytest.mark.django_db
def test_nan_in_a_json_body_is_refused_with_400(member):
    client, group = member
    url = f"/api/groups/{group.id}/rounds/1/metrics/"
    _assert_json_4xx(_post(client, url, '{"accuracy": NaN, "loss": 1}'))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["offset=null", "offset=-1", "limit=0", "limit=abc", "offset=%C2%B2",
              "limit=99999999999999999999", "round=x", "round=%C2%B2", "round=99999999999"],
)  # fmt: skip
def test_malformed_paging_and_filters_are_refused_with_400(member, query):
    client, _ = member
    _assert_json_4xx(client.get(f"/api/ledger/transactions/?{query}"))


@pytest.mark.django_db
def test_valid_paging_is_still_accepted(member):
    client, _ = member
    r = client.get("/api/ledger/transactions/?limit=2&offset=1&round=0")
    assert r.status_code == 200 and set(r.json()) >= {"count", "results"}


@pytest.mark.django_db
def test_a_20_mb_gradient_gets_a_json_413(member, settings):
    from deepchain_web.limits import base64_len, upload_body_limit

    client, group = member
    url = f"/api/groups/{group.id}/rounds/1/gradient/"
    body = json.dumps({"update": "A" * base64_len(20_000_000), "tx": {}})
    _assert_json_4xx(_post(client, url, body), status=413)
    # what is accepted matches what Django will read: the upload limit, not 2.5 MiB
    assert upload_body_limit() == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert upload_body_limit() > 16 * 1024 * 1024


@pytest.mark.django_db
def test_a_gradient_under_the_limit_reaches_the_protocol_checks(member):
    """A 3 MiB upload (more than Django's default 2.5 MiB) is read and judged by the
    service, which refuses its unsigned transaction with a JSON 400, not an HTML 400."""
    client, group = member
    url = f"/api/groups/{group.id}/rounds/1/gradient/"
    body = json.dumps({"update": "A" * (3 * 1024 * 1024), "tx": {}})
    _assert_json_4xx(_post(client, url, body), status=(400, 409))


@pytest.mark.django_db
def test_a_large_body_to_a_small_endpoint_gets_a_json_413(member):
    client, _ = member
    body = json.dumps({**GROUP, "name": "x" * (1024 * 1024)})
    _assert_json_4xx(_post(client, "/api/groups/", body), status=413)


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_json_404_and_a_page_404_is_friendly(member):
    client, _ = member
    _assert_json_4xx(client.get("/api/no/such/thing/"), status=404)
    r = Client().get("/no/such/page/")
    assert r.status_code == 404 and b"Not found" in r.content and b"Traceback" not in r.content


@pytest.mark.django_db
def test_the_explorer_search_with_a_non_ascii_digit_is_not_an_error(make_user):
    c = Client()
    c.force_login(make_user("carol"))
    r = c.get("/explorer/", {"q": "²"})
    assert r.status_code == 200


def test_the_demo_settings_run_without_debug():
    import importlib
    import os

    os.environ.pop("DEBUG", None)
    dev = importlib.import_module("deepchain_web.settings.dev")
    assert importlib.reload(dev).DEBUG is False


def _request_bodies() -> list[tuple[str, str]]:
    """(path template, request component) of every documented operation with a JSON body."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                assert method == "post", (method, path)
                found.append((path, body["schema"]["$ref"].rsplit("/", 1)[-1]))
    return found


@pytest.mark.django_db
def test_every_request_body_refuses_an_unknown_key_with_400_naming_it(member):
    from drf_spectacular.generators import SchemaGenerator

    client, group = member
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    bodies = _request_bodies()
    assert len(bodies) >= 10, bodies  # every POST that takes a body, not a chosen few
    for path, component in bodies:
        assert components[component]["additionalProperties"] is False, component
        url = path.replace("{group_id}", str(group.id)).replace("{number}", "1")
        body = _assert_json_4xx(_post(client, url, {"treshold": 1, "zz_extra": 2}))
        assert "treshold" in body["message"] and "zz_extra" in body["message"], (url, body)


@pytest.mark.django_db
def test_a_misspelt_group_option_creates_nothing(member):
    from training_app.models import CooperativeGroup

    client, _ = member
    before = CooperativeGroup.objects.count()
    body = _assert_json_4xx(_post(client, "/api/groups/", {**GROUP, "treshold": 1}))
    assert body["message"] == "unknown field(s): 'treshold'"
    nested = _assert_json_4xx(_post(client, "/api/groups/", {**GROUP, "deadlines": {"T99": 5}}))
    assert nested["message"] == "deadlines: unknown field(s): 'T99'"
    assert CooperativeGroup.objects.count() == before


@pytest.mark.django_db
def test_a_flood_of_unknown_keys_gets_a_short_message(member):
    client, _ = member
    junk = {f"{'k' * 200}{i}": i for i in range(1000)}
    body = _assert_json_4xx(_post(client, "/api/groups/", {**GROUP, **junk}))
    assert len(body["message"]) < 700 and body["message"].endswith("and 990 more")
