"""The party agent itself: :class:`PartyAgent` does, at each :meth:`~PartyAgent.step`, what
the group's current phase needs from this party (the steps in ``deepchain.party``)."""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests

from deepchain.agent_chain import ChainClient, ChainError
from deepchain.agent_verify import (
    ChainGroup,
    ConfigMismatch,
    Refusal,
    chain_group,
    check_api_copy,
    verify_round_aggregate,
)
from deepchain.blobs import blob_hash
from deepchain.ceremony_agent import CeremonyClient, share_path
from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.identity import Identity
from deepchain.crypto.keyshare import open_key_share
from deepchain.crypto.paillier import KeyShare, ThresholdPublicKey
from deepchain.crypto.vector import (
    EncryptedUpdate,
    decryption_share,
    encrypt_update,
    proof_context,
)
from deepchain.learning.data import Dataset, load_mnist, train_test_split
from deepchain.learning.local import evaluate, train_local
from deepchain.learning.strategies import Strategy
from deepchain.ledger.transactions import Transaction, TxKind, make_tx
from deepchain.party.api import Api, ApiError
from deepchain.party.faults import fault_in_round, model_replacement_update, norm_violating_update
from deepchain.party.membership import join_group, register_account
from deepchain.party.model import ModelFollower
from deepchain.party.state import LocalState
from deepchain.private_files import private_dir, write_private
from deepchain.wire import b64d, b64e, floats_from_bytes, heartbeat_message

log = logging.getLogger("deepchain.party")

IDENTITY_FILE = "identity.json"
#: group states after which an agent has nothing left to do
ENDED = ("finished", "aborted", "failed")

__all__ = ["IDENTITY_FILE", "AgentConfig", "PartyAgent"]


@dataclass
class AgentConfig:
    api: str
    token: str
    data_dir: Path
    keystore: Path
    group: int | None = None
    behaviour: str = (
        "honest"  # demo faults: honest | late | cheat | flaky | silent | scaled | stretched
    )
    validation_fraction: float = 0.2
    seed: int = 0
    record_updates: bool = False  # keep plaintext q_i in keystore/updates/ (tests, debugging)
    genesis_hash: str | None = None  # pin the chain (default: trust on first use, then pinned)


class PartyAgent:
    """One party: its identity, its data, its key share; :meth:`step` does what is due now."""

    def __init__(self, config: AgentConfig, api: Api | None = None) -> None:
        self.cfg = config
        private_dir(self.cfg.keystore)
        self.identity = Identity.load_or_create(self.cfg.keystore / IDENTITY_FILE)
        self.api = api or Api(config.api, config.token)
        self.chain = ChainClient(self._fetch_blocks, self.cfg.keystore, config.genesis_hash)
        self._data: tuple[Dataset, Dataset] | None = None
        self._share: KeyShare | None = None
        self._info: dict[str, Any] | None = None
        self._group_address: str | None = None
        self._model: ModelFollower | None = None
        self._verified: tuple[ChainGroup, ThresholdPublicKey, PackingScheme] | None = None
        self._ceremony: CeremonyClient | None = None

    # -- local state (keystore directory) ---------------------------------------------------
    def local(self) -> LocalState:
        """This party's record of its rounds in the group it works for."""
        return LocalState(self.cfg.keystore, self.cfg.group)

    # -- private data -----------------------------------------------------------------------
    def data(self) -> tuple[Dataset, Dataset]:
        """(local training split, local validation split) of the party's own data."""
        if self._data is None:
            ds = load_mnist(self.cfg.data_dir, kind="train")
            self._data = train_test_split(ds, self.cfg.validation_fraction, self.cfg.seed)
        return self._data

    # -- group info and key share ------------------------------------------------------------
    def info(self, refresh: bool = False) -> dict[str, Any]:
        """My membership: party index, public key, packing, training settings, sealed share."""
        if self._info is None or refresh:
            info = self.api.get(f"groups/{self.cfg.group}/me/")
            if info["address"] != self.identity.address:
                raise ApiError(409, "this keystore's identity is not the member's account")
            self._info = info
        return self._info

    # -- the chain, the agent's source of truth ------------------------------------------------
    def _fetch_blocks(self, height: int) -> list[dict[str, Any]]:
        return self.api.get(f"ledger/chain/?from={int(height)}")["blocks"]

    def fetch_blob(self, h: str) -> bytes:
        """A blob by its hash (the caller checks the hash: the platform is not trusted)."""
        return b64d(self.api.get(f"ledger/blobs/{h}/")["data"])

    def verified_group(self) -> tuple[ChainGroup, ThresholdPublicKey, PackingScheme] | None:
        """(the group's GROUP_CREATE, PK_model, packing) once it is final on the chain and the
        API's copy agrees with it; None while it is not final. Raises ConfigMismatch."""
        if self._verified is None:
            info = self.info()
            if info.get("public_key") is None:
                return None
            self.chain.sync()
            cg = chain_group(self.chain, str(info["group_address"]))
            if cg is None:
                return None
            pk, scheme = check_api_copy(cg, info, self.identity.address)
            self._verified = (cg, pk, scheme)
        return self._verified

    def _require_verified(self) -> tuple[ChainGroup, ThresholdPublicKey, PackingScheme]:
        v = self.verified_group()
        if v is None:
            raise ConfigMismatch("the group's GROUP_CREATE is not final on chain yet")
        return v

    def public_key(self) -> ThresholdPublicKey:
        """PK_model, as checked against the group's GROUP_CREATE."""
        return self._require_verified()[1]

    def scheme(self) -> PackingScheme:
        """The packing, as checked against the group's GROUP_CREATE."""
        return self._require_verified()[2]

    def key_share(self) -> KeyShare:
        """My share: the one this party made in the group's key ceremony (keystore file), or
        the dealer's sealed box opened (checks the signature of the GROUP_CREATE's signer and
        v_i); kept in memory only."""
        if self._share is None:
            cg, pk, _ = self._require_verified()
            own = share_path(self.cfg.keystore, cg.address)
            if own.exists():
                self._share = KeyShare.from_json(json.loads(own.read_text()), pk)
                return self._share
            self._share = open_key_share(
                self.info()["sealed_key_share"],
                self.identity,
                cg.dealer,
                pk,
                cg.index_of(self.identity.address),
            )
        return self._share

    # -- registration and joining (external agents) ---------------------------------------------
    def ensure_registered(self) -> dict[str, Any]:
        """Register this keystore's public keys as the user's account (first run only)."""
        return register_account(self.api, self.identity)

    def join(self, group_id: int, data_size: int | None = None) -> dict[str, Any]:
        """Join ``group_id`` (if not a member yet), staking d with a DEPOSIT signed here."""
        return join_group(self.api, self.identity, group_id, lambda: len(self.data()[0]), data_size)

    # -- one step -------------------------------------------------------------------------------
    def step(self) -> str:
        """Do whatever the current round needs from this party; returns what it did."""
        st = self.api.get(f"groups/{self.cfg.group}/round/")
        status = st["group_status"]
        if status == "keygen":
            did = self.ceremony_step()
            return "waiting" if did == "done" else did
        if status == "recruiting":
            return "waiting"
        if self.cfg.behaviour == "silent":
            return "done" if status in ENDED else "silent"
        if self._info is None or self._info.get("public_key") is None:
            self.info(refresh=True)
        try:
            if self.verified_group() is None:  # Tran_co is not final on chain (yet)
                return "done" if status in ENDED else "waiting"
        except (ConfigMismatch, ChainError) as exc:
            log.error("refusing to take part: %s", exc)
            return f"refused: {exc}"
        did = self._report_finished_rounds(st)
        if status in ENDED:
            return did or "done"
        r = st["round"]
        me = st.get("me") or {}
        phase = st["phase"]
        local = self.local().load()
        mine = local["rounds"].setdefault(str(r), {})
        if phase == "gradient_submission" and not me.get("gradient") and not mine.get("gradient"):
            if fault_in_round(self.cfg.behaviour, r) == "late":
                wait_ms = st["deadlines_ms"]["gradient_submission"] - st["now_ms"] + 1000
                if wait_ms > 0:
                    time.sleep(wait_ms / 1000)
            return self.submit_gradient(r, st)
        if (
            st.get("aggregate_ready")
            and phase in ("download", "decryption_share")
            and not me.get("decryption_share")
            and not me.get("decryption_refusal")
            and not mine.get("share")
        ):
            return self.submit_share(r)
        return did or "idle"

    def ceremony_step(self, refusal: str | None = None) -> str:
        """My part of the group's dealerless key ceremony (``deepchain.ceremony_agent``):
        what the step did, "done" once it ended, "waiting" while the group has no ceremony
        (a dealer's key is on its way). With ``refusal``, a refused or failed request is
        logged and answered with it instead of raised."""
        if self._ceremony is None:
            self._ceremony = CeremonyClient(
                self.api, self.identity, self.cfg.group, self.cfg.keystore,
                behaviour=self.cfg.behaviour,
            )  # fmt: skip
        try:
            return self._ceremony.step()
        except ApiError as exc:
            if exc.status == 404:
                return "waiting"
            if refusal is None:
                raise
            log.warning("key ceremony: %s", exc)
        except (OSError, requests.RequestException) as exc:
            if refusal is None:
                raise
            log.warning("key ceremony: %s", exc)
        return refusal

    def heartbeat(self, api: Api | None = None) -> dict[str, Any]:
        """Tell the platform this agent is running: a signed heartbeat for my membership."""
        api = api or self.api
        if self._group_address is None:
            self._group_address = api.get(f"groups/{self.cfg.group}/")["group"]["address"]
        at = int(time.time() * 1000)
        msg = heartbeat_message(self._group_address, self.identity.address, at)
        return api.post(
            f"groups/{self.cfg.group}/heartbeat/",
            {"at_ms": at, "signature": self.identity.sign(msg).hex()},
        )

    def message_with_deposit(
        self, kind: TxKind, next_nonce: int, payload: dict[str, Any], *, group: str, r: int,
        phase: str,
    ) -> tuple[Transaction, dict[str, Any]]:  # fmt: skip
        """(round r's signed ``kind`` message, the party's own signed DEPOSIT of d into
        escrow:<group> for it): the deposit takes the party's next nonce and the message the
        one after, the order the platform applies them."""
        info = self.info()
        deposit = self.round_tx(
            TxKind.DEPOSIT, next_nonce, {"amount": int(info["deposit"]), "reason": "deposit"},
            group=info["group_address"], r=r, phase=phase,
        ).to_dict()  # fmt: skip
        tx = self.round_tx(kind, next_nonce + 1, payload, group=group, r=r, phase=phase)
        return tx, deposit

    def round_tx(
        self, kind: TxKind, nonce: int, payload: dict[str, Any], *, group: str, r: int, phase: str
    ) -> Transaction:
        """A transaction of round r's ``phase`` signed by this party now."""
        return make_tx(
            self.identity, kind, nonce, payload, group=group, round=r, phase=phase,
            timestamp_ms=int(time.time() * 1000),
        )  # fmt: skip

    def post_message(
        self, r: int, what: str, field: str, blob: bytes, tx: Transaction, deposit: dict[str, Any]
    ) -> str:
        """Post round r's signed ``what`` ("gradient" or "share") with its blob (as ``field``)
        and its deposit: ``what`` if the platform took it, else ``"<what> refused: <why>"``."""
        try:
            self.api.post(
                f"groups/{self.cfg.group}/rounds/{r}/{what}/",
                {field: b64e(blob), "tx": tx.to_dict(), "deposit_tx": deposit},
            )
            return what
        except ApiError as exc:
            label = "gradient" if what == "gradient" else "decryption share"
            log.warning("%s of round %s refused: %s", label, r, exc.message)
            return f"{what} refused: {exc.message}"

    # -- gradient (T_t1) ------------------------------------------------------------------------
    def submit_gradient(self, r: int, st: dict[str, Any]) -> str:
        info = self.info()
        g = self.cfg.group
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        params = self.api.get(f"groups/{g}/rounds/{r}/params/")
        w = floats_from_bytes(b64d(params["data"]))
        timings["download"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        train, _val = self.data()
        dw = train_local(
            info["model_name"],
            w,
            train,
            int(info["local_iterations"]),
            float(info["learning_rate"]),
            int(info["batch_size"]),
            seed=int(
                np.random.SeedSequence([info["seed"], r, info["party_index"]]).generate_state(1)[0]
            ),
            update_clip=float(info["update_clip"]),
            prox_mu=self.strategy().mu,
        )
        timings["training"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pk, scheme = self.public_key(), self.scheme()
        q = scheme.quantize(dw)
        ctx = proof_context(pk, info["group_address"], r, "gradient_submission",
                            int(info["party_index"]), self.identity.address)  # fmt: skip
        fault = fault_in_round(self.cfg.behaviour, r)
        if fault == "scaled":
            q, upd = model_replacement_update(pk, scheme, q, ctx)
        elif fault == "stretched":
            q, upd = norm_violating_update(pk, scheme, q, ctx)
        else:
            upd = encrypt_update(pk, scheme, q, ctx=ctx)
        if fault == "cheat":  # demo: a ciphertext unproven
            cts = list(upd.ciphertexts)
            cts[0] = pk.encrypt(1)
            upd = EncryptedUpdate(ciphertexts=cts, proofs=upd.proofs, length=upd.length)
        blob = upd.to_bytes(pk)
        timings["encryption"] = time.perf_counter() - t0
        if self.cfg.record_updates:
            buf = io.BytesIO()
            np.save(buf, q.astype(np.int64))
            write_private(self.local().update_path(r), buf.getvalue())

        tx, deposit = self.message_with_deposit(
            TxKind.GRADIENT,
            int(st["me"]["next_nonce"]),
            {
                "update_blob": blob_hash(blob),
                "deposit": int(info["deposit"]),
                "length": int(q.size),
                "n_ciphertexts": len(upd.ciphertexts),
                "pk": pk.fingerprint(),
            },
            group=info["group_address"],
            r=r,
            phase="gradient_submission",
        )
        before = self.api.bytes_sent
        t0 = time.perf_counter()
        outcome = self.post_message(r, "gradient", "update", blob, tx, deposit)
        timings["upload"] = time.perf_counter() - t0
        local = self.local().load()
        rec = local["rounds"].setdefault(str(r), {})
        rec["gradient"] = outcome
        rec["seconds"] = {**rec.get("seconds", {}), **timings}
        rec["bytes_sent"] = rec.get("bytes_sent", 0) + self.api.bytes_sent - before
        self.local().save(local)
        return outcome

    # -- decryption share (T_t5), only of an aggregate verified on chain ------------------------
    def submit_share(self, r: int) -> str:
        """Verify the round's aggregate against the finalized chain, then post a decryption
        share of it, or a signed DECRYPTION_REFUSAL with the reason if it does not verify."""
        cg, pk, _scheme = self._require_verified()
        g = self.cfg.group
        t0 = time.perf_counter()
        agg = self.api.get(f"groups/{g}/rounds/{r}/aggregate/")
        served = b64d(agg["data"])
        t1 = time.perf_counter()
        try:
            self.chain.sync()
            verified = verify_round_aggregate(self.chain, cg, pk, r, served, self.fetch_blob)
        except Refusal as exc:
            return self.refuse(r, exc.reason, blob_hash(served))
        except ChainError as exc:
            log.error("round %s: %s", r, exc)
            return f"refused: {exc}"
        if verified is None:
            return "idle"  # the round's AGGREGATE is not final on chain yet
        t2 = time.perf_counter()
        i = cg.index_of(self.identity.address)
        ctx = proof_context(pk, cg.address, r, "decryption_share", i, self.identity.address)
        ds = decryption_share(pk, self.key_share(), verified.ciphertexts, ctx=ctx)
        blob = ds.to_bytes(pk)
        t3 = time.perf_counter()
        st = self.api.get(f"groups/{g}/round/")
        tx, deposit = self.message_with_deposit(
            TxKind.DECRYPTION_SHARE,
            int(st["me"]["next_nonce"]),
            {
                "share_blob": blob_hash(blob),
                "aggregate_blob": verified.aggregate_blob,
                "deposit": int(cg.deposit),
                "i": ds.i,
            },
            group=cg.address,
            r=r,
            phase="decryption_share",
        )
        before = self.api.bytes_sent
        outcome = self.post_message(r, "share", "share", blob, tx, deposit)
        self.local().record(r, share=outcome, bytes_sent=self.api.bytes_sent - before, seconds={
            "aggregate_download": t1 - t0,
            "aggregate_verification": t2 - t1,
            "decryption_share": t3 - t2,
            "share_upload": time.perf_counter() - t3,
        })  # fmt: skip
        return outcome

    def refuse(self, r: int, reason: str, served_hash: str) -> str:
        """Sign and post a DECRYPTION_REFUSAL of round ``r``'s aggregate, with the reason and
        the SHA-256 of what the platform served (``served_aggregate``: not a blob reference,
        a forged aggregate need not be in the platform's store)."""
        cg = self._require_verified()[0]
        g = self.cfg.group
        log.warning("round %s: refusing to decrypt: %s", r, reason)
        st = self.api.get(f"groups/{g}/round/")
        tx = self.round_tx(
            TxKind.DECRYPTION_REFUSAL,
            int(st["me"]["next_nonce"]),
            {"reason": reason[:300], "served_aggregate": served_hash},
            group=cg.address,
            r=r,
            phase="decryption_share",
        )
        try:
            self.api.post(f"groups/{g}/rounds/{r}/refusal/", {"tx": tx.to_dict()})
            outcome = f"refused: {reason}"
        except ApiError as exc:
            outcome = f"refused: {reason} (refusal not recorded: {exc.message})"
        self.local().record(r, share=outcome, refusal=reason)
        return outcome

    # -- result (T_t6) and metrics --------------------------------------------------------------
    def _report_finished_rounds(self, st: dict[str, Any]) -> str:
        did = ""
        local = self.local().load()
        for r in st.get("finished_rounds", []):
            rec = local["rounds"].setdefault(str(r), {})
            if rec.get("metrics") or not (rec.get("gradient") or rec.get("share")):
                continue
            self.report_result(r, rec)
            rec["metrics"] = True
            self.local().save(local)
            did = "metrics"
        return did

    # -- the model update (T_t7) --------------------------------------------------------------
    def strategy(self) -> Strategy:
        """The group's strategy (FedProx mu and server optimizer); FedAvg if none recorded."""
        d = self.info().get("strategy")
        return Strategy.from_json(d) if d else Strategy()

    def model(self) -> ModelFollower:
        """The model update as this party re-derives it (the group's strategy and packing)."""
        if self._model is None:
            self._model = ModelFollower(
                self.api, self.cfg.group, self.strategy(), self.scheme().scale
            )
        return self._model

    def combined_model(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(W_r as this agent derives it, W_r as the platform published it)."""
        return self.model().combined_model(r)

    def report_result(self, r: int, rec: dict[str, Any]) -> dict[str, float]:
        """Apply the decrypted aggregate to W_{r-1} with the group's strategy, evaluate on
        local validation, report."""
        g = self.cfg.group
        info = self.info()
        t0 = time.perf_counter()
        w, published = self.combined_model(r)
        if not np.array_equal(w, published):
            log.warning("round %s: published W_r differs from the locally combined model", r)
        _train, val = self.data()
        acc, loss = evaluate(info["model_name"], w, val)
        seconds = {**rec.get("seconds", {}), "combine_evaluate": time.perf_counter() - t0}
        payload = {
            "accuracy": float(acc),
            "loss": float(loss),
            "seconds": seconds,
            "bytes_sent": int(rec.get("bytes_sent", 0)),
        }
        self.api.post(f"groups/{g}/rounds/{r}/metrics/", payload)
        return {"accuracy": acc, "loss": loss}
