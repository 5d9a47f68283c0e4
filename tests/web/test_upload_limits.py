"""A group's uploads are as large as its update can be, and no larger: the platform refuses a
group whose update (with Proof_PK and the slot-bound proof) no upload may carry, naming the
setting to raise, and refuses a gradient blob larger than the group's update. Real 512-bit
keys, the real key ceremony and real proofs; the limit is shrunk so the tiny model exceeds it."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from deepchain.blobs import blob_hash
from deepchain.crypto.vector import encrypt_update, proof_context
from deepchain.ledger.transactions import TxKind, make_tx
from deepchain.wire import b64e

GROUP = {"name": "g", "n_parties": 3, "threshold": 2, "rounds": 1, "deposit": 10}
TINY = 240_834  # bytes of a tiny-model update at 512 bits with its proofs (tests/unit)


def _client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


def _post(client: Client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_it_refuses_a_group_whose_update_exceeds_the_upload_limit_naming_the_setting(
    make_user,
):
    from training_app.models import CooperativeGroup
    from training_app.upload_limits import update_bytes

    r = _post(_client(make_user()), "/api/groups/", {**GROUP, "model_name": "paper_cnn"})
    assert r.status_code == 409 and r["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["code"] == "update_too_large"
    size = update_bytes(512, "paper_cnn", 8.0)
    assert size > 16 * 1024 * 1024  # the CNN's proven update: about 80 MB
    assert "DEEPCHAIN_MAX_BLOB" in body["message"] and str(size) in body["message"]
    assert not CooperativeGroup.objects.exists()


@pytest.mark.django_db
def test_a_limit_raised_to_the_update_size_admits_the_group(make_user, settings):
    from training_app.upload_limits import update_bytes

    client = _client(make_user())
    settings.DEEPCHAIN_MAX_BLOB = update_bytes(512, "tiny", 8.0) - 1
    r = _post(client, "/api/groups/", {**GROUP, "model_name": "tiny"})
    assert r.status_code == 409 and r.json()["code"] == "update_too_large"
    settings.DEEPCHAIN_MAX_BLOB += 1
    assert _post(client, "/api/groups/", {**GROUP, "model_name": "tiny"}).status_code == 201


@pytest.mark.django_db
def test_the_group_form_shows_why_the_group_is_refused(client, make_user):
    from training_app.models import CooperativeGroup

    client.force_login(make_user())
    form = {"name": "cnn", "task": "digits", "model_name": "paper_cnn", "key_bits": "512",
            "n_parties": "3", "threshold": "2", "rounds": "1", "deposit": "40",
            "partition": "iid", "local_iterations": "5", "strategy": "fedavg"}  # fmt: skip
    text = client.post("/groups/new/", form, follow=True).content.decode()
    assert "DEEPCHAIN_MAX_BLOB" in text and "over the 16,777,216 bytes" in text
    assert not CooperativeGroup.objects.filter(name="cnn").exists()


def _gradient_body(services, ledger, g, m, blob: bytes) -> dict:
    tx = make_tx(ledger.party_identity(m.account), TxKind.GRADIENT, m.account.nonce + 2,
                 {"update_blob": blob_hash(blob), "deposit": int(g.deposit)},
                 group=g.address, round=1, phase="gradient_submission",
                 timestamp_ms=int(time.time() * 1000)).to_dict()  # fmt: skip
    return {"update": b64e(blob), "tx": tx}


@pytest.mark.django_db
def test_an_honest_update_fits_the_groups_limit_and_a_larger_blob_gets_a_json_413(
    make_user, make_group, settings
):
    from deepchain.learning.models import build_model, param_count
    from ledger_app import services as ledger
    from training_app import selectors, services
    from training_app.models import CooperativeGroup, Membership, Submission
    from training_app.upload_limits import gradient_blob_limit

    settings.DEEPCHAIN_MAX_BLOB = 300_000  # above the tiny update, far below the default
    users = [make_user() for _ in range(3)]
    g = make_group(users[0], model_name="tiny")
    for u in users:
        services.join_group(group=g, user=u, simulated=True)
    services.start_group(group=g, by=users[0])
    assert services.run_key_ceremony(g.id)
    g = CooperativeGroup.objects.get(pk=g.pk)
    limit = gradient_blob_limit(g)
    assert limit == TINY < settings.DEEPCHAIN_MAX_BLOB
    a, b = Membership.objects.filter(group=g).select_related("account").order_by("party_index")[:2]
    url = f"/api/groups/{g.id}/rounds/1/gradient/"

    # a blob one byte longer than any update of the group: refused before any parsing
    r = _post(_client(a.user), url, _gradient_body(services, ledger, g, a, b"\0" * (limit + 1)))
    assert r.status_code == 413 and r["Content-Type"].startswith("application/json")
    assert f"larger than {limit} bytes" in r.json()["message"] and "tiny" in r.json()["message"]
    assert not Submission.objects.filter(membership=a).exists()

    # the honest update (bound at the clip, so the slot-bound proof is in it) is accepted
    pk, scheme = selectors.public_key_of(g), selectors.scheme_of(g)
    q = scheme.quantize(np.random.default_rng(0).normal(0, 0.01, param_count(build_model("tiny"))))
    ctx = proof_context(pk, g.address, 1, "gradient_submission", b.party_index, b.account.address)
    blob = encrypt_update(pk, scheme, q, ctx=ctx).to_bytes(pk)
    assert limit - 256 <= len(blob) <= limit
    r = _post(_client(b.user), url, _gradient_body(services, ledger, g, b, blob))
    assert r.status_code == 202, r.content[:300]
    assert services.verify_gradient(Submission.objects.get(membership=b).id)
