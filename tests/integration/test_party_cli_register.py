"""An external party: the REAL ``python -m deepchain.party`` CLI, as a subprocess holding its
own keys, registers itself (public keys + proof of possession), joins a 4-party group with its
own signed stake, and trains to completion next to three simulated parties, against the live
Daphne server and a real Celery worker (512-bit keys, the ``tiny`` model).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from deepchain.crypto.identity import Identity
from deepchain.learning.data import read_idx, write_idx
from deepchain.party import IDENTITY_FILE
from deepchain.wire import ints_from_bytes, registration_message
from ledger_app import selectors as ledger_selectors
from ledger_app import services as ledger
from ledger_app.models import Account, Transaction
from tests.services import LOG_DIR, ROOT
from training_app import presence, services
from training_app.models import CooperativeGroup, Membership, Metric, Round, Submission
from training_app.tasks import agent_dir

from .beat import beat as protocol_beat
from .beat import settle_chain

pytestmark = pytest.mark.django_db(transaction=True)

GRANT = ledger.DEFAULT_GRANT
DEPOSIT = 50
CLI_EXAMPLES = 400


def _write_party_data(directory: Path) -> None:
    """The CLI party's own data: a small MNIST subset as IDX files (never sent anywhere)."""
    src = Path(settings.DEEPCHAIN_MNIST_DIR)
    images = read_idx(next(src.glob("t10k-images-idx3-ubyte*")))
    labels = read_idx(next(src.glob("t10k-labels-idx1-ubyte*")))
    idx = np.random.default_rng(11).permutation(len(labels))[:CLI_EXAMPLES]
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / "train-images-idx3-ubyte", images[idx].astype(np.uint8))
    write_idx(directory / "train-labels-idx1-ubyte", labels[idx].astype(np.uint8))


def _wait(cond, timeout: float, what: str, beat: bool = False, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        if proc is not None and proc.poll() not in (None, 0):
            raise AssertionError(f"the party CLI exited with {proc.returncode} ({what})")
        if beat:
            protocol_beat()
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_registration_refuses_a_signature_by_another_key():
    """Proof of possession: sign_pk must have signed (user id, sign_pk, box_pk)."""
    user = get_user_model().objects.create_user(username="pop-agent", password="x")
    client = APIClient()
    client.force_authenticate(user)
    mine, other = Identity.generate(), Identity.generate()
    reg = client.get("/api/agents/register/").json()
    assert reg["user"] == user.id and reg["account"] is None
    forged = other.sign(registration_message(user.id, mine.address, mine.public.box_pk)).hex()
    r = client.post("/api/agents/register/", {"sign_pk": mine.address,
                    "box_pk": mine.public.box_pk, "signature": forged}, format="json")  # fmt: skip
    assert r.status_code == 409 and r.json()["code"] == "bad_signature"
    # a signature bound to another user id is refused too
    wrong_user = mine.sign(registration_message(user.id + 1, mine.address, mine.public.box_pk))
    r = client.post("/api/agents/register/", {"sign_pk": mine.address,
                    "box_pk": mine.public.box_pk, "signature": wrong_user.hex()},
                    format="json")  # fmt: skip
    assert r.status_code == 409 and not Account.objects.filter(user=user).exists()
    good = mine.sign(registration_message(user.id, mine.address, mine.public.box_pk)).hex()
    body = {"sign_pk": mine.address, "box_pk": mine.public.box_pk, "signature": good}
    r = client.post("/api/agents/register/", body, format="json")
    assert r.status_code == 201 and r.json()["address"] == mine.address, r.content
    assert r.json()["custodial"] is False and r.json()["balance"] == GRANT
    assert client.post("/api/agents/register/", body, format="json").status_code == 200
    # a second identity for the same user is refused
    body2 = {"sign_pk": other.address, "box_pk": other.public.box_pk,
             "signature": other.sign(registration_message(user.id, other.address,
                                                          other.public.box_pk)).hex()}  # fmt: skip
    r = client.post("/api/agents/register/", body2, format="json")
    assert r.status_code == 409 and r.json()["code"] == "has_account"
    # the platform holds no private key of the agent
    assert not ledger.keystore_path("users", f"{mine.address}.json").exists()


def test_the_party_cli_registers_joins_and_trains_to_completion(
    celery_worker, live_server_url, tmp_path
):
    User = get_user_model()
    sims = []
    for name in ("alice", "bob", "carol"):
        u = User.objects.create_user(username=f"cli-{name}", password="x")
        ledger.create_party_account(user=u, grant=GRANT)
        sims.append(u)
    agent_user = User.objects.create_user(username="cli-dave", password="x")  # no account yet
    token = Token.objects.create(user=agent_user).key
    g = services.create_group(
        initiator=sims[0], name="with an external agent", n_parties=4, threshold=3, rounds=2,
        deposit=DEPOSIT, model_name="tiny", local_iterations=40, learning_rate=0.3,
        batch_size=32, deadlines={"T1": 120_000, "T2": 90_000, "T5": 120_000}, data_limit=2000,
        seed=5, api_url=live_server_url, simulated=True,  # three parties run by the platform
        key_origin="dealer",
    )  # fmt: skip
    for u in sims:
        services.join_group(group=g, user=u, data_size=CLI_EXAMPLES, simulated=True)

    data, keystore = tmp_path / "data", tmp_path / "keystore"
    _write_party_data(data)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"test-party-cli-{g.id}.log"
    argv = [sys.executable, "-m", "deepchain.party", "--api", live_server_url, "--token", token,
            "--data", str(data), "--keystore", str(keystore), "--group", str(g.id),
            "--poll", "0.5", "--record-updates"]  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        # first run: keys generated locally, only the public half registered; then it joins
        m = _wait(lambda: Membership.objects.filter(group=g, user=agent_user,
                                                    stake_remaining=DEPOSIT).first(),
                  120, "the agent to join", proc=proc)  # fmt: skip
        ident = Identity.load(keystore / IDENTITY_FILE)
        acct = Account.objects.get(user=agent_user)
        assert acct.address == ident.address == m.account.address
        assert acct.box_pk == ident.public.box_pk and not m.simulated
        assert not ledger.keystore_path("users", f"{acct.address}.json").exists()
        stake = Transaction.objects.get(sender=acct.address, kind="deposit", round=None)
        assert stake.payload["amount"] == DEPOSIT  # signed by the agent itself

        # its signed heartbeat brings it online: the group may start
        _wait(lambda: presence.is_online(Membership.objects.get(pk=m.pk)), 60,
              "the agent's heartbeat", proc=proc)  # fmt: skip
        services.start_group(group=g, by=sims[0])
        _wait(lambda: CooperativeGroup.objects.filter(pk=g.pk, status="finished").exists(),
              360, "the group to finish", beat=True, proc=proc)  # fmt: skip
        assert proc.wait(timeout=120) == 0, log_path.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    rounds = list(Round.objects.filter(group=g).order_by("number"))
    assert [r.n_accepted for r in rounds] == [4, 4], [r.status_reason for r in rounds]
    subs = Submission.objects.filter(round__group=g, membership=m)
    assert subs.count() == 4 and set(subs.values_list("status", flat=True)) == {"accepted"}
    # the aggregate is the sum of the four parties' quantized updates, the CLI's included
    store = ledger.blob_store()
    for r in rounds:
        local = [np.load(agent_dir(Account.objects.get(user=u).address) / "updates"
                         / f"group{g.id}-round{r.number}.npy") for u in sims]  # fmt: skip
        local.append(np.load(keystore / "updates" / f"group{g.id}-round{r.number}.npy"))
        assert np.array_equal(ints_from_bytes(store.get(r.result_blob)), np.sum(local, axis=0))
    assert Metric.objects.filter(round__group=g, membership=m).count() == 2
    assert rounds[-1].accuracy > 0.5, [r.accuracy for r in rounds]
    # honest: the stake and every deposit came back
    assert Account.objects.get(user=agent_user).balance == GRANT
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0
    total, supply = ledger_selectors.total_supply_check()
    assert total == supply
    settle_chain()
    verdict = ledger_selectors.verify_chain()
    assert verdict.ok, verdict.verdict()
