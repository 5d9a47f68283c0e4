"""A hostile platform against honest party agents: they decrypt only an aggregate they verified.

Four real party agents (``deepchain.party.PartyAgent``, each holding its own keys, in this test
process) join a real (not simulated) group on the live Daphne server with a real Celery worker
and Redis (512-bit keys). Everything is real except the HTTP layer the agents talk to: a
:class:`HostileApi` in front of the real API, playing a platform operator who holds the worker
nodes' keys. Each round it serves a forged aggregate and a chain rewritten to match it (the
AGGREGATE transaction replaced, every later block re-signed by the eligible leader and voted
by the committee with the nodes' own keys), so only the agents' own recomputation from the
parties' signed GRADIENT transactions can catch it:

- (a) one party's ciphertext served as the aggregate;
- (b) the product missing one accepted update (the AGGREGATE lists three inputs);
- (c) the product times an extra ciphertext (one update counted twice);
- (d) two parties' verdicts forged to "rejected" and the product of the other two served: an
  aggregate of fewer than min_contributors updates.

Each attack runs on a group of its own (a round nobody decrypts ends the group as failed). No
honest agent posts a share; each refusal is a signed DECRYPTION_REFUSAL on the real chain;
nobody pays for refusing; the chain still audits clean. Separately, an API that serves another
PK_model than the group's GROUP_CREATE is refused before anything is encrypted, and every file
the agents wrote under umask 022 is 0600 in a 0700 folder.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from deepchain.blobs import blob_hash
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import EncryptedUpdate
from deepchain.ledger.blocks import Block, BlockHeader, genesis_params, merkle_root, sign_block
from deepchain.ledger.blocks import sign_vote as vote_for
from deepchain.ledger.rules import select_committee, select_leader
from deepchain.ledger.transactions import Transaction, TxKind, make_tx, thaw
from deepchain.party import AgentConfig, Api, PartyAgent
from deepchain.wire import b64e
from frontend.selectors import dashboard_snapshot
from ledger_app import selectors as ledger_selectors
from ledger_app import services as ledger
from ledger_app.models import Account, WorkerNode
from ledger_app.models import Transaction as TxRow
from training_app import selectors, services
from training_app.datasets import write_party_data
from training_app.models import CooperativeGroup, Round, Submission

from .beat import beat, drive_consensus, settle_chain

pytestmark = pytest.mark.django_db(transaction=True)

DEPOSIT = 50
VARIANTS = ("one_party", "missing_one", "extra_one", "too_few")
WHY = {
    "one_party": "not the product", "missing_one": "missing", "extra_one": "not the product",
    "too_few": "fewer than min_contributors",
}  # fmt: skip


class HostileApi:
    """The agent's HTTP layer, run by a malicious platform: real calls, forged answers."""

    def __init__(self, real: Api, forger: Forger) -> None:
        self.real, self.forger = real, forger
        self.bytes_sent = self.bytes_received = 0

    def get(self, path: str) -> Any:
        f = self.forger
        if path.startswith("ledger/chain/?from="):
            return {"blocks": f.chain_from(int(path.split("=", 1)[1]))}
        if path.startswith("ledger/blobs/"):
            h = path.split("/")[2]
            if h in f.blobs:
                return {"blob": h, "data": b64e(f.blobs[h])}
        if path.endswith("/aggregate/") and "/rounds/" in path:
            r = int(path.split("/")[3])
            got = self.real.get(path)
            fake = f.aggregate_of(r)
            if fake is not None:
                got = {**got, "blob": blob_hash(fake), "data": b64e(fake)}
            return got
        return self.real.get(path)

    def post(self, path: str, payload: dict) -> Any:
        return self.real.post(path, payload)


class Forger:
    """Rewrites the real chain as the hostile platform serves it (one consistent fork)."""

    def __init__(self, group: CooperativeGroup, variant: str) -> None:
        self.group, self.variant = group, variant
        self.nodes = {}
        for n in WorkerNode.objects.all():
            ident = ledger.node_identity(n.name)
            self.nodes[ident.address] = ident
        self.blobs: dict[str, bytes] = {}
        self.aggregates: dict[int, bytes] = {}
        self.forged: list[Block] = []  # the fork served, block by block
        self.real_hashes: list[str] = []

    # -- what each round's forged aggregate is -------------------------------------------------
    def _updates(self, r: int) -> list[tuple[str, list[int], int]]:
        pk = selectors.public_key_of(self.group)
        subs = (
            Submission.objects.filter(
                round__group=self.group, round__number=r, kind="gradient", status="accepted"
            )
            .select_related("transaction")
            .order_by("membership__party_index")
        )
        out = []
        for s in subs:
            upd = EncryptedUpdate.from_bytes(ledger.blob_store().get(s.blob), pk)
            out.append((s.transaction.tx_hash, upd.ciphertexts, upd.length))
        return out

    def _forge_aggregate(self, tx: Transaction) -> Transaction:
        r = int(tx.round)
        pk = selectors.public_key_of(self.group)
        n2 = pk.n2
        ups = self._updates(r)
        hashes = [h for h, _c, _l in ups]
        variant = self.variant
        if variant == "one_party":  # party 2's own ciphertext as "the aggregate"
            vecs, inputs = [ups[1][1]], hashes
        elif variant == "missing_one":
            vecs, inputs = [c for _h, c, _l in ups[:-1]], hashes[:-1]
        elif variant == "extra_one":  # party 1's update counted twice
            vecs, inputs = [c for _h, c, _l in ups] + [ups[0][1]], hashes
        else:  # too_few: the product of parties 1 and 2 only
            vecs, inputs = [c for _h, c, _l in ups[:2]], hashes[:2]
        prod = [1] * len(vecs[0])
        for v in vecs:
            prod = [a * c % n2 for a, c in zip(prod, v, strict=True)]
        blob = EncryptedUpdate(ciphertexts=prod, proofs=[], length=ups[0][2]).to_bytes(pk)
        self.blobs[blob_hash(blob)] = blob
        self.aggregates[r] = blob
        p = thaw(tx.payload)
        p.update(aggregate_blob=blob_hash(blob), inputs=inputs, n_accepted=len(inputs))
        return make_tx(self.nodes[tx.sender], tx.kind, tx.nonce, p, group=tx.group,
                       round=tx.round, phase=tx.phase, timestamp_ms=tx.timestamp_ms)  # fmt: skip

    def _forge_verify(self, tx: Transaction) -> Transaction:
        """(d): the verdicts on parties 3 and 4's gradients forged to "rejected"."""
        p = thaw(tx.payload)
        losers = {s.transaction.tx_hash for s in Submission.objects.filter(
            round__group=self.group, round__number=tx.round, kind="gradient",
            membership__party_index__in=[3, 4]).select_related("transaction")}  # fmt: skip
        if p.get("subject") not in losers:
            return tx
        p["ok"] = False
        auth = ledger.authority_identity()
        return make_tx(auth, tx.kind, tx.nonce, p, group=tx.group, round=tx.round,
                       phase=tx.phase, timestamp_ms=tx.timestamp_ms)  # fmt: skip

    def _forge(self, tx: Transaction) -> Transaction:
        if tx.group != self.group.address or tx.round is None:
            return tx
        if tx.kind == TxKind.AGGREGATE:
            return self._forge_aggregate(tx)
        if tx.kind == TxKind.VERIFY and self.variant == "too_few":
            return self._forge_verify(tx)
        return tx

    def aggregate_of(self, r: int) -> bytes | None:
        while True:  # the fork is built up to the tip first (blocks come 100 at a time)
            height = len(self.forged)
            self.chain_from(height)
            if len(self.forged) == height:
                return self.aggregates.get(r)

    # -- the fork, re-signed with the platform's own worker keys ---------------------------------
    def chain_from(self, height: int) -> list[dict]:
        for doc in ledger_selectors.blocks_from(len(self.forged), 100):
            self.forged.append(self._rewrite(Block.from_dict(doc)))
        return [b.to_dict() for b in self.forged[height : height + 100]]

    def _rewrite(self, real: Block) -> Block:
        if not self.forged:
            self.params = genesis_params(real)
            return real
        prev = self.forged[-1]
        txs = tuple(self._forge(t) for t in real.transactions)
        same = all(a is b for a, b in zip(txs, real.transactions, strict=True))
        if same and prev.block_hash == real.header.prev_hash:
            return real
        h, k, g = real.height, real.header.consensus_round, self.params
        leader = select_leader(prev.block_hash, h, k, g.workers, g.stakes)
        header = BlockHeader(height=h, prev_hash=prev.block_hash,
                             merkle_root=merkle_root([t.tx_hash for t in txs]),
                             timestamp_ms=real.header.timestamp_ms, leader=leader,
                             consensus_round=k, tx_count=len(txs))  # fmt: skip
        block = sign_block(self.nodes[leader], header, txs)
        committee = select_committee(prev.block_hash, h, k, g.workers, g.committee_size)
        return block.with_votes(vote_for(self.nodes[c], block.block_hash, h, k) for c in committee)


def _people(n: int = 4):
    User = get_user_model()
    out = []
    for _ in range(n):
        u = User.objects.create_user(username=f"hostile-{User.objects.count()}", password="x")
        out.append((u, Token.objects.create(user=u).key))
    return out


def _modes(root: Path) -> list[tuple[str, str]]:
    """Every file not 0600 and every folder not 0700 under ``root``."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for d in [dirpath, *(os.path.join(dirpath, x) for x in dirnames)]:
            if stat.S_IMODE(os.stat(d).st_mode) != 0o700:
                bad.append((d, oct(stat.S_IMODE(os.stat(d).st_mode))))
        for f in filenames:
            p = os.path.join(dirpath, f)
            if stat.S_IMODE(os.stat(p).st_mode) != 0o600:
                bad.append((p, oct(stat.S_IMODE(os.stat(p).st_mode))))
    return bad


@pytest.mark.parametrize("variant", VARIANTS)
def test_honest_agents_refuse_a_forged_aggregate_and_each_refusal_is_on_chain(
    celery_worker, live_server_url, tmp_path, variant
):
    old_umask = os.umask(0o022)
    try:
        _run_hostile_round(live_server_url, tmp_path, variant)
    finally:
        os.umask(old_umask)


def _run_hostile_round(url: str, tmp_path: Path, variant: str) -> None:
    people = _people()
    g = services.create_group(
        initiator=people[0][0], name=f"hostile platform: {variant}", n_parties=4, threshold=3,
        rounds=1, deposit=DEPOSIT, model_name="tiny", local_iterations=20, learning_rate=0.3,
        batch_size=32, deadlines={"T1": 120_000, "T2": 90_000, "T5": 120_000}, data_limit=2000,
        seed=4, api_url=url, key_origin="dealer",
    )  # fmt: skip
    assert not g.simulated
    forger = Forger(g, variant)
    agents = []
    for i, (_u, token) in enumerate(people):
        home = tmp_path / f"party{i}"
        cfg = AgentConfig(api=url, token=token, data_dir=home / "data", keystore=home / "keys",
                          group=g.id, seed=4)  # fmt: skip
        agent = PartyAgent(cfg, api=HostileApi(Api(url, token), forger))
        assert agent.join(g.id, data_size=400)["index"] == i + 1
        agents.append(agent)
    # a real group: the platform holds no identity of any of its parties
    assert not any(ledger.holds_identity(Account.objects.get(user=u)) for u, _t in people)
    g.refresh_from_db()
    for i, a in enumerate(agents):
        write_party_data(g, i + 1, a.cfg.data_dir)
        a.heartbeat()
    grants = [Account.objects.get(user=u).balance + DEPOSIT for u, _t in people]
    services.start_group(group=g, by=people[0][0])

    if variant == "one_party":
        # an API that serves another PK_model than the chain's is refused before anything is sent
        other_pk, _shares = generate_threshold_keypair(512, 4, 3)

        class WrongKeyApi(HostileApi):
            def get(self, path: str) -> Any:
                got = super().get(path)
                if path.endswith("/me/") and got.get("public_key"):
                    got = {**got, "public_key": other_pk.to_json()}
                return got

        wrong = PartyAgent(agents[0].cfg, api=WrongKeyApi(Api(url, people[0][1]), forger))
        deadline, said = time.monotonic() + 240, "waiting"
        while said == "waiting" and time.monotonic() < deadline:
            beat()
            said = wrong.step()
            time.sleep(0.5)
        assert said.startswith("refused") and "PK_model" in said, said
        assert not Submission.objects.filter(round__group=g).exists()

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        g.refresh_from_db()
        if g.status in (CooperativeGroup.Status.FINISHED, CooperativeGroup.Status.ABORTED,
                        CooperativeGroup.Status.FAILED):  # fmt: skip
            break
        for a in agents:
            a.step()
        beat()
        time.sleep(0.3)
    r = Round.objects.get(group=g, number=1)
    assert g.status == CooperativeGroup.Status.FAILED, (g.status, r.phase, r.status_reason)

    # no honest agent posted a share; the round says it could not decrypt
    assert not Submission.objects.filter(round__group=g, kind="decryption_share").exists()
    assert not r.result_blob and "fewer than t" in r.status_reason, r.status_reason
    # every agent's refusal is a signed transaction, final on the real chain, with its reason
    end = time.monotonic() + 120
    refusals = TxRow.objects.filter(group_ref=g.address, kind=TxKind.DECRYPTION_REFUSAL)
    while refusals.filter(block=None).exists() and time.monotonic() < end:
        drive_consensus()
        time.sleep(0.5)
    assert refusals.count() == 4 and not refusals.filter(block=None).exists()
    assert {t.sender for t in refusals} == {a.identity.address for a in agents}
    for t in refusals:
        assert WHY[variant] in t.payload["reason"], t.payload["reason"]
    assert Submission.objects.filter(round=r, kind="decryption_refusal").count() == 4
    # the dashboard shows each refusal with its reason (and the round why it decrypted nothing)
    snap = dashboard_snapshot(g)
    shown = [s for s in snap["submissions"] if s["kind"] == "decryption_refusal"]
    assert len(shown) == 4 and all(WHY[variant] in s["reason"] for s in shown), shown
    assert snap["outcome"]["rounds"][0]["reason"] == r.status_reason
    assert r.settlements["decryption_share"]["penalised"] == {}

    # refusing cost nothing: every deposit and the stake came back; the chain audits clean
    assert [Account.objects.get(user=u).balance for u, _t in people] == grants
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0
    settle_chain()
    verdict = ledger_selectors.verify_chain()
    assert verdict.ok, verdict.verdict()

    # private files: everything the agents wrote is 0600 in 0700 folders; no plaintext update
    for a in agents:
        assert _modes(a.cfg.keystore) == []
        assert sorted(p.name for p in a.cfg.keystore.iterdir()) == [
            "chain-pin.json", "identity.json", f"state-group{g.id}.json"
        ]  # fmt: skip
