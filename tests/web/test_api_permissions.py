"""Every REST endpoint refuses anonymous and foreign access (table-driven over the URL conf).

``ENDPOINTS`` maps each route under /api/ (as Django prints it, e.g.
``api/groups/<int:pk>/join/``) to what it allows. The test walks ``get_resolver()``; a route
missing from the table fails ``test_every_api_route_has_a_permission_entry`` — add an entry
(and think about who may call it) when you add an endpoint.

Entry fields:
- ``anon``: methods an anonymous caller may use (default: none -> 401/403 for every method);
- ``foreign``: methods a signed-in stranger must be refused (403/404) when the URL names
  another party's object (the sample world's group/membership/account of ``alice``);
- ``kwargs``: how to fill the route's parameters from the sample world (default by name);
- ``invalid``: (method, payload) pairs that must be refused with a 4xx + "message" (400 for a
  payload outside the documented schema, 401 for bad credentials, 409 for a well-formed
  request the rules refuse) and change nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

ALL = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Rule:
    anon: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()
    kwargs: dict = field(default_factory=dict)
    invalid: tuple[tuple[str, dict], ...] = ()


# --- the table: one entry per API route ---------------------------------------------------
ENDPOINTS: dict[str, Rule] = {
    # documentation (public by design)
    "api/schema/": Rule(anon=("get",)),
    "api/docs/": Rule(anon=("get",)),
    "api/redoc/": Rule(anon=("get",)),
    # web platform (frontend.api)
    "api/auth/token/": Rule(
        anon=("post",),
        invalid=(("post", {}), ("post", {"username": "alice", "password": "wrong"})),
    ),
    "api/auth/me/": Rule(),
    # ledger (ledger_app.api): public-chain reads need a signed-in user; the wallet and
    # transfers act only for the caller's own account (no other party's object in the URL)
    "api/ledger/blocks/": Rule(),
    "api/ledger/transactions/": Rule(),
    "api/ledger/export/": Rule(),
    "api/ledger/status/": Rule(),
    "api/ledger/verify/": Rule(),
    "api/ledger/wallet/": Rule(),
    "api/ledger/chain/": Rule(
        invalid=(("get", {"from": "-1"}), ("get", {"from": "\u00b2"}), ("get", {"from": "9" * 30}))
    ),
    "api/ledger/blobs/<str:h>/": Rule(kwargs={"h": lambda w: "00" * 32}),
    "api/ledger/transfer/": Rule(
        invalid=(
            ("post", {}),
            ("post", {"to": "nobody", "amount": 5}),
            ("post", {"to": "@mallory", "amount": -5}),
            ("post", {"to": "@mallory", "amount": 10**15}),
        )
    ),
    "api/ledger/<str:ref>/": Rule(),
    # training (training_app.api): alice's *running* group is private to its members,
    # initiator and staff; a stranger gets 404 for it on every route, reads and writes alike
    "api/groups/": Rule(
        invalid=(
            ("post", {}),
            ("post", {"name": "g", "n_parties": 2, "threshold": 3, "rounds": 1, "deposit": 1}),
            ("post", {"name": "g", "n_parties": 2, "threshold": 2, "rounds": 1, "deposit": -1}),
            ("post", {"name": "g", "n_parties": 2, "threshold": 2, "rounds": 1, "deposit": 5}),
            (
                "post",
                {
                    "name": "g",
                    "n_parties": 4,
                    "threshold": 2,
                    "rounds": 1,
                    "deposit": 5,
                    "min_contributors": 2,
                },
            ),
            (
                "post",
                {
                    "name": "g",
                    "n_parties": 3,
                    "threshold": 2,
                    "rounds": 1,
                    "deposit": 5,
                    "min_contributors": 4,
                },
            ),
        )
    ),
    "api/groups/mine/": Rule(),
    # an external agent registers its own public keys for the caller only (no object in URL)
    "api/agents/register/": Rule(
        invalid=(
            ("post", {}),
            ("post", {"sign_pk": "ab" * 32, "box_pk": "cd" * 32, "signature": "00" * 64}),
        )
    ),
    "api/groups/<int:group_id>/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/join/": Rule(
        foreign=("post",), invalid=(("post", {"data_size": -1}),)
    ),
    "api/groups/<int:group_id>/start/": Rule(foreign=("post",)),
    "api/groups/<int:group_id>/heartbeat/": Rule(
        foreign=("post",), invalid=(("post", {}), ("post", {"at_ms": -1, "signature": "x"}))
    ),
    "api/groups/<int:group_id>/abort/": Rule(foreign=("post",)),
    "api/groups/<int:group_id>/me/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/round/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/rounds/<int:number>/params/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/rounds/<int:number>/gradient/": Rule(foreign=("post",)),
    "api/groups/<int:group_id>/rounds/<int:number>/aggregate/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/rounds/<int:number>/share/": Rule(foreign=("post",)),
    "api/groups/<int:group_id>/rounds/<int:number>/refusal/": Rule(foreign=("post",)),
    "api/groups/<int:group_id>/rounds/<int:number>/result/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/rounds/<int:number>/metrics/": Rule(foreign=("post",)),
    # the dealerless key ceremony: a party posts and reads only its own envelopes
    "api/groups/<int:group_id>/ceremony/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/ceremony/messages/": Rule(
        foreign=("post",),
        invalid=(("post", {}), ("post", {"round": 0, "phase": "nope", "envelopes": {}})),
    ),
    "api/groups/<int:group_id>/ceremony/inbox/<int:number>/": Rule(foreign=("get",)),
    "api/groups/<int:group_id>/ceremony/result/": Rule(foreign=("post",), invalid=(("post", {}),)),
    "api/groups/<int:group_id>/ceremony/blame/": Rule(
        foreign=("post",), invalid=(("post", {}), ("post", {"round": -1, "reason": "x"}))
    ),
}


# --- walking the URL conf -----------------------------------------------------------------
def _walk(patterns, prefix: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def _normalise(route: str) -> str:
    """Regex routes (DRF routers) -> Django-style text; drop the format-suffix variants."""
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    return route.replace("\\.", ".")


def api_routes() -> dict[str, URLPattern]:
    routes = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        norm = _normalise(route)
        if not norm.startswith("api/") or "<format>" in norm or "<drf_format_suffix" in norm:
            continue
        routes.setdefault(norm, pattern)
    return routes


def _methods(pattern: URLPattern) -> list[str]:
    cb = pattern.callback
    actions = getattr(cb, "actions", None)
    if actions:
        return [m for m in ALL if m in actions]
    cls = getattr(cb, "cls", None) or getattr(cb, "view_class", None)
    if cls is None:
        return ["get"]
    return [m for m in ALL if hasattr(cls, m)]


# --- the sample world ---------------------------------------------------------------------
@pytest.fixture
def world(make_user):
    """alice owns things (account, group, membership); mallory is a signed-in stranger."""
    from ledger_app.models import Account, Block, Transaction
    from training_app.models import CooperativeGroup, Membership

    alice = make_user("alice")
    mallory = make_user("mallory")
    acct = Account.objects.get(user=alice)
    group = CooperativeGroup.objects.create(
        name="alice's group", initiator=alice, address="group:" + "a" * 32,
        n_parties=2, threshold=2, rounds=1, deposit=100, key_bits=512, status="running",
    )  # fmt: skip
    mallory_address = Account.objects.get(user=mallory).address
    membership = Membership.objects.create(
        group=group, user=alice, account=acct, status="active", party_index=1
    )
    tx = Transaction.objects.filter(sender=Account.objects.get(kind="treasury").address).first()
    return {
        "alice": alice,
        "mallory": mallory,
        "defaults": {
            "pk": group.id,
            "id": group.id,
            "group_id": group.id,
            "group_pk": group.id,
            "membership_id": membership.id,
            "membership_pk": membership.id,
            "address": acct.address,
            "height": Block.objects.order_by("height").first().height,
            "mallory_address": mallory_address,
            "tx_hash": tx.tx_hash,
            "hash": tx.tx_hash,
            "round": 1,
            "number": 1,
            "round_number": 1,
            "asset_id": 1,
            "ref": tx.tx_hash,
        },  # fmt: skip
    }


def _url(route: str, rule: Rule, world) -> str:
    values = {**world["defaults"], **{k: v(world) for k, v in rule.kwargs.items()}}

    def fill(m: re.Match) -> str:
        name = m.group(1).split(":")[-1]
        assert name in values, f"no sample value for <{name}> in {route}: add kwargs"
        return str(values[name])

    return "/" + re.sub(r"<([\w:]+)>", fill, route)


def _state():
    from ledger_app.models import Account, Block, Transaction
    from training_app.models import CooperativeGroup, Membership

    return (
        tuple(Account.objects.order_by("id").values_list("address", "balance")),
        # refusals are recorded for auditors (status=rejected + a REJECTION tx): not a change
        Transaction.objects.exclude(status="rejected").exclude(kind="rejection").count(),
        Block.objects.count(),
        CooperativeGroup.objects.count(),
        Membership.objects.count(),
    )


# --- tests ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_every_api_route_has_a_permission_entry():
    routes = api_routes()
    missing = sorted(set(routes) - set(ENDPOINTS))
    assert not missing, f"API routes without a permission entry in {__name__}: {missing}"
    stale = sorted(set(ENDPOINTS) - set(routes))
    assert not stale, f"entries for routes that no longer exist: {stale}"


@pytest.mark.django_db
def test_anonymous_callers_are_refused_except_the_allow_list(world):
    client = APIClient()
    checked = 0
    for route, pattern in api_routes().items():
        rule = ENDPOINTS.get(route, Rule())
        url = _url(route, rule, world)
        for method in _methods(pattern):
            if method in rule.anon:
                continue
            r = getattr(client, method)(url, {}, format="json")
            assert r.status_code in (401, 403), (method.upper(), url, r.status_code)
            assert "message" in r.json(), (method.upper(), url)
            checked += 1
    assert checked >= 2


@pytest.mark.django_db
def test_strangers_cannot_act_on_another_partys_objects(world):
    client = APIClient()
    client.force_authenticate(world["mallory"])
    for route, pattern in api_routes().items():
        rule = ENDPOINTS.get(route, Rule())
        url = _url(route, rule, world)
        for method in rule.foreign:
            assert method in _methods(pattern), (route, method)
            before = _state()
            r = getattr(client, method)(url, {}, format="json")
            assert r.status_code in (403, 404), (method.upper(), url, r.status_code)
            assert _state() == before, (method.upper(), url, "changed state")


@pytest.mark.django_db
def test_invalid_payloads_get_a_4xx_with_a_message_and_change_nothing(world):
    client = APIClient()
    client.force_authenticate(world["alice"])
    cases = 0
    for route in api_routes():
        rule = ENDPOINTS.get(route, Rule())
        url = _url(route, rule, world)
        for method, raw in rule.invalid:
            payload = {k: world["defaults"]["mallory_address"] if v == "@mallory" else v
                       for k, v in raw.items()}  # fmt: skip
            before = _state()
            r = getattr(client, method)(url, payload, format="json")
            assert r.status_code in (400, 401, 409), (method.upper(), url, r.status_code,
                                                      r.content[:300])  # fmt: skip
            body = r.json()
            assert isinstance(body.get("message"), str) and body["message"], body
            assert _state() == before, (method.upper(), url, "changed state")
            cases += 1
    assert cases >= 2


@pytest.mark.django_db
def test_token_endpoint_issues_a_token_that_authenticates_and_can_be_revoked(make_user):
    user = make_user("agent")
    client = APIClient()
    r = client.post(
        "/api/auth/token/", {"username": "agent", "password": user.raw_password}, format="json"
    )
    assert r.status_code == 200
    token = r.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/auth/me/").json()
    assert me["username"] == "agent" and len(me["address"]) == 64 and me["balance"] > 0
    assert client.delete("/api/auth/token/").status_code == 204
    assert client.get("/api/auth/me/").status_code == 401


@pytest.mark.django_db
def test_the_openapi_schema_validates_and_documents_every_api_route():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)  # raises on an invalid OpenAPI 3 document
    documented = {p.strip("/") for p in schema["paths"]}
    for route in api_routes():
        if route in {"api/schema/", "api/docs/", "api/redoc/"}:
            continue
        text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).strip("/")
        assert text in documented, f"{route} missing from the OpenAPI schema"


@pytest.mark.django_db
def test_a_stranger_does_not_see_a_private_group_in_listings(world):
    client = APIClient()
    client.force_authenticate(world["mallory"])
    ids = {g["id"] for g in client.get("/api/groups/").json()}
    assert world["defaults"]["group_id"] not in ids
    client.force_authenticate(world["alice"])
    assert world["defaults"]["group_id"] in {g["id"] for g in client.get("/api/groups/").json()}


@pytest.mark.django_db
def test_joining_without_enough_balance_is_refused_with_a_message_and_moves_nothing(
    make_user, make_group
):
    initiator = make_user("init")
    poor = make_user("poor", grant=50)
    group = make_group(initiator, deposit=100)
    client = APIClient()
    client.force_authenticate(poor)
    before = _state()
    r = client.post(f"/api/groups/{group.id}/join/", {"data_size": 10}, format="json")
    assert r.status_code == 409 and r.json()["message"], r.content
    assert _state() == before
