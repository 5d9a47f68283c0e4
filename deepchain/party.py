"""The party agent (paper section 4.2.4): one code path for a party's own host and the demo.

A party keeps its data, its key share s_i and its plaintext updates dW_i local. It talks to the
platform only through the REST API (token auth) and, per round r:

1. polls the round state; in ``gradient_submission`` downloads W_{r-1}, trains K local
   iterations on its own data (``learning.local.train_local``), quantizes and packs dW,
   encrypts it under PK_model with one Proof_PK per ciphertext (``encrypt_update``), signs a
   GRADIENT transaction with its identity (pk_psu) and posts both (the deposit d moves with it);
2. once the Processing contract appended C(sum dW), downloads it and VERIFIES it against the
   finalized chain (``deepchain.agent_verify.verify_round_aggregate``: the AGGREGATE's inputs
   are exactly the round's accepted GRADIENT transactions, at least ``min_contributors`` of
   them, every blob hashes to what the chain says, and C(sum dW) equals the product mod n^2
   of the accepted ciphertexts, recomputed here). Only then does it compute its decryption
   share c_i = C^(2 Delta s_i) with Proof_CD (``decryption_share``), sign a DECRYPTION_SHARE
   transaction and post it; otherwise it signs and posts a DECRYPTION_REFUSAL with the
   reason (no deposit, no penalty);
3. downloads the decrypted aggregate S = sum_j q_j and the number n of accepted updates,
   applies the group's strategy to the mean round(S / n) in fixed point (FedAvg:
   W_r = W_{r-1} + round(S / n) / scale, ``learning.fixed_point.apply_aggregate``; a server
   optimizer's state is
   re-derived from the published aggregates, ``learning.strategies``), evaluates W_r on its
   local validation split and reports accuracy, loss, seconds per phase and bytes sent.
   With FedProx (the group's mu > 0) step 1 trains on F(w) + (mu / 2) ||w - W_{r-1}||^2.

The chain, not the API, is the agent's source of truth: PK_model (by fingerprint), N, t, the
party list, the packing, the deposit, the deadlines, ``min_contributors`` and ``simulated``
come from the group's GROUP_CREATE in a finalized block the agent verified itself
(``deepchain.agent_chain``); the API's copies are checked against it and a mismatch is refused
(:class:`~deepchain.agent_verify.ConfigMismatch`), and the dealer whose signature the sealed key
share must carry is the GROUP_CREATE's signer.

Everything the agent writes is private (0600 files in 0700 folders, whatever the umask). Only
with ``record_updates`` (CLI ``--record-updates``) does it keep each round's plaintext
quantized update q_i in ``updates/``, so the party (or a test) can check that the decrypted
aggregate equals the sum of the updates.

CLI: ``python -m deepchain.party --api URL --token T --data DIR [--keystore DIR] [--group ID]
[--genesis-hash H] [--record-updates]``.
``--data DIR`` holds the party's own IDX files (``train-images-idx3-ubyte[.gz]`` and
``train-labels-idx1-ubyte[.gz]``). On its first run the CLI creates its identity (Ed25519 pk_psu
+ X25519 box key) in ``--keystore`` and registers only the PUBLIC keys with the platform
(``POST /api/agents/register/``, proof of possession: a signature over
:func:`registration_message`); with ``--group ID`` it then joins that group if it is not a
member yet, staking d with its own signed DEPOSIT. This module imports no Django.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
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
from deepchain.learning.strategies import (
    ServerState,
    Strategy,
    apply_strategy,
    replay_state,
    scale_bits_of,
)
from deepchain.ledger.transactions import TxKind, make_tx
from deepchain.private_files import private_dir, write_private
from deepchain.wire import (
    b64d,
    b64e,
    floats_from_bytes,
    heartbeat_message,
    ints_from_bytes,
    registration_message,
)

log = logging.getLogger("deepchain.party")

IDENTITY_FILE = "identity.json"
#: seconds between heartbeats (the platform counts an agent online for a few of these)
HEARTBEAT_SECONDS = 5.0
#: group states after which an agent has nothing left to do
ENDED = ("finished", "aborted", "failed")

__all__ = [
    "AgentConfig",
    "ApiError",
    "PartyAgent",
    "fault_in_round",
    "main",
]


def fault_in_round(behaviour: str, r: int) -> str | None:
    """The demo fault a simulated party commits in round r: "late" and "cheat" (an invalid
    proof) every round; "flaky" an invalid proof in round 1 and late in round 2, honest after
    (so one demo run shows a penalty of each kind and the others' extra pay); "scaled" a
    model-replacement update every round (``model_replacement_update``)."""
    if behaviour in ("late", "cheat", "scaled"):
        return behaviour
    if behaviour == "flaky":
        return {1: "cheat", 2: "late"}.get(r)
    return None


def model_replacement_update(
    pk: ThresholdPublicKey, scheme: PackingScheme, q: np.ndarray, ctx: Any
) -> tuple[np.ndarray, EncryptedUpdate]:
    """The poisoning party of the demo: its update scaled by N (so the mean becomes its own
    model), encrypted with a valid Proof_PK and a slot-bound proof that the real prover makes
    from the scaled digits (bits that are not all 0/1), which the verifier must refuse."""
    from deepchain.crypto.paillier import ALPHA_BITS, rng_or_system
    from deepchain.crypto.zk.batch_proof_pk import prove_update
    from deepchain.crypto.zk.slot_bound import digit_bits, prove_bits

    b = scheme.q_bound
    bad = np.clip(pk.N * np.asarray(q, dtype=np.int64), -scheme.q_max, scheme.q_max)
    ms = scheme.pack(bad)
    r = rng_or_system(None)
    alphas = [r.getrandbits(ALPHA_BITS) for _ in ms]
    cs = [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)]
    batch = prove_update(pk, scheme, cs, ms, alphas, ctx=ctx)
    d = bad + b
    bits = digit_bits(np.clip(d, 0, 2 * b), 2 * b).astype(np.int64)
    bits[:, 0] += d - np.clip(d, 0, 2 * b)  # the excess on bit 0: the digits are the true ones
    proof = prove_bits(pk, scheme, b, int(bad.size), cs, bits.reshape(-1).tolist(), alphas,
                       ctx=ctx)  # fmt: skip
    upd = EncryptedUpdate(cs, [], int(bad.size), batch_proof=batch, bound_proof=proof)
    return bad, upd


# -- REST client ------------------------------------------------------------------------------
class ApiError(RuntimeError):
    """The platform refused a request (HTTP 4xx/5xx), with its JSON ``message``."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code


class Api:
    """Tiny token-authenticated JSON client; counts the bytes it sends and receives."""

    def __init__(self, base: str, token: str, timeout: float = 120.0) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.timeout = timeout
        self.bytes_sent = 0
        self.bytes_received = 0

    def _url(self, path: str) -> str:
        return f"{self.base}/api/{path.lstrip('/')}"

    def _check(self, resp: requests.Response) -> Any:
        self.bytes_received += len(resp.content)
        try:
            body = resp.json()
        except ValueError:
            body = {"message": resp.text[:200]}
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, str(body.get("message", body)), body.get("code", ""))
        return body

    def get(self, path: str) -> Any:
        return self._check(self.session.get(self._url(path), timeout=self.timeout))

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        data = json.dumps(payload).encode()
        self.bytes_sent += len(data)
        resp = self.session.post(
            self._url(path),
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
        )
        return self._check(resp)


# -- the agent --------------------------------------------------------------------------------
@dataclass
class AgentConfig:
    api: str
    token: str
    data_dir: Path
    keystore: Path
    group: int | None = None
    behaviour: str = "honest"  # demo faults: honest | late | cheat | flaky | silent | scaled
    validation_fraction: float = 0.2
    seed: int = 0
    record_updates: bool = False  # keep plaintext q_i in keystore/updates/ (tests, debugging)
    genesis_hash: str | None = None  # pin the chain (default: trust on first use, then pinned)


@dataclass
class _RoundLocal:
    seconds: dict[str, float] = field(default_factory=dict)
    bytes_sent: int = 0


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
        self._optimizer: tuple[int, ServerState] | None = None  # (round, state after it)
        self._verified: tuple[ChainGroup, ThresholdPublicKey, PackingScheme] | None = None
        self._ceremony: CeremonyClient | None = None

    # -- local state (keystore directory) ---------------------------------------------------
    def _state_path(self) -> Path:
        return self.cfg.keystore / f"state-group{self.cfg.group}.json"

    def _load_state(self) -> dict[str, Any]:
        p = self._state_path()
        return json.loads(p.read_text()) if p.exists() else {"rounds": {}}

    def _save_state(self, st: dict[str, Any]) -> None:
        write_private(self._state_path(), json.dumps(st, sort_keys=True).encode())

    def update_record_path(self, round_no: int) -> Path:
        """Where the quantized update q_i of ``round_no`` is recorded (int64 .npy)."""
        return self.cfg.keystore / "updates" / f"group{self.cfg.group}-round{round_no}.npy"

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
        """Register this keystore's public keys as the user's account (first run only).

        The private keys never leave the keystore: the platform gets sign_pk, box_pk and a
        signature over :func:`registration_message`. Returns the account (address, nonce, ...).
        """
        reg = self.api.get("agents/register/")
        acct = reg.get("account")
        # first run; or the user's browser (custodial) wallet, which moves to these keys
        if acct is None or (acct["address"] != self.identity.address and acct.get("custodial")):
            ident = self.identity
            msg = registration_message(reg["user"], ident.address, ident.public.box_pk)
            acct = self.api.post(
                "agents/register/",
                {
                    "sign_pk": ident.address,
                    "box_pk": ident.public.box_pk,
                    "signature": ident.sign(msg).hex(),
                },
            )
            log.info("registered identity %s", ident.address[:16])
        elif acct["address"] != self.identity.address:
            raise ApiError(409, "this user already has another account; use its keystore")
        return acct

    def join(self, group_id: int, data_size: int | None = None) -> dict[str, Any]:
        """Join ``group_id`` (if not a member yet), staking d with a DEPOSIT signed here."""
        try:
            self.api.get(f"groups/{group_id}/me/")
            return {"joined": False}
        except ApiError as exc:
            if exc.status != 403:
                raise
        snap = self.api.get(f"groups/{group_id}/")["group"]
        acct = self.ensure_registered()
        if data_size is None:
            data_size = len(self.data()[0])
        deposit = make_tx(
            self.identity,
            TxKind.DEPOSIT,
            int(acct["nonce"]) + 1,
            {"amount": int(snap["deposit"]), "reason": "stake"},
            group=snap["address"],
            timestamp_ms=int(time.time() * 1000),
        ).to_dict()
        res = self.api.post(
            f"groups/{group_id}/join/", {"data_size": int(data_size), "deposit_tx": deposit}
        )
        log.info("joined group %s as party %s", group_id, res.get("index"))
        return {"joined": True, **res}

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
        local = self._load_state()
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

    def run(self, poll_seconds: float = 1.0) -> None:
        """CLI loop: step until the group finishes, with a heartbeat every
        HEARTBEAT_SECONDS from a thread of its own (also while training or decrypting)."""
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(stop,), daemon=True)
        beat.start()
        try:
            while True:
                try:
                    did = self.step()
                except ApiError as exc:
                    log.warning("platform refused: %s", exc)
                    did = "refused"
                if did == "done":
                    return
                if did in ("idle", "waiting", "silent") or did.startswith("refused"):
                    time.sleep(poll_seconds)
        finally:
            stop.set()

    def _beat(self, stop: threading.Event) -> None:
        api = Api(self.cfg.api, self.cfg.token, timeout=30.0)
        while not stop.is_set():
            try:
                self.heartbeat(api)
            except (ApiError, requests.RequestException) as exc:
                log.warning("heartbeat not accepted: %s", exc)
            stop.wait(HEARTBEAT_SECONDS)

    def _deposit_tx(self, nonce: int, r: int, phase: str) -> dict[str, Any]:
        """The party's own signed DEPOSIT of d into escrow:<group> for one message."""
        info = self.info()
        return make_tx(
            self.identity,
            TxKind.DEPOSIT,
            nonce,
            {"amount": int(info["deposit"]), "reason": "deposit"},
            group=info["group_address"],
            round=r,
            phase=phase,
            timestamp_ms=int(time.time() * 1000),
        ).to_dict()

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
            write_private(self.update_record_path(r), buf.getvalue())

        nonce = int(st["me"]["next_nonce"])
        deposit = self._deposit_tx(nonce, r, "gradient_submission")
        tx = make_tx(
            self.identity,
            TxKind.GRADIENT,
            nonce + 1,
            {
                "update_blob": blob_hash(blob),
                "deposit": int(info["deposit"]),
                "length": int(q.size),
                "n_ciphertexts": len(upd.ciphertexts),
                "pk": pk.fingerprint(),
            },
            group=info["group_address"],
            round=r,
            phase="gradient_submission",
            timestamp_ms=int(time.time() * 1000),
        )
        before = self.api.bytes_sent
        t0 = time.perf_counter()
        try:
            self.api.post(
                f"groups/{g}/rounds/{r}/gradient/",
                {"update": b64e(blob), "tx": tx.to_dict(), "deposit_tx": deposit},
            )
            outcome = "gradient"
        except ApiError as exc:
            log.warning("gradient of round %s refused: %s", r, exc.message)
            outcome = f"gradient refused: {exc.message}"
        timings["upload"] = time.perf_counter() - t0
        local = self._load_state()
        rec = local["rounds"].setdefault(str(r), {})
        rec["gradient"] = outcome
        rec["seconds"] = {**rec.get("seconds", {}), **timings}
        rec["bytes_sent"] = rec.get("bytes_sent", 0) + self.api.bytes_sent - before
        self._save_state(local)
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
        nonce = int(st["me"]["next_nonce"])
        deposit = self._deposit_tx(nonce, r, "decryption_share")
        tx = make_tx(
            self.identity,
            TxKind.DECRYPTION_SHARE,
            nonce + 1,
            {
                "share_blob": blob_hash(blob),
                "aggregate_blob": verified.aggregate_blob,
                "deposit": int(cg.deposit),
                "i": ds.i,
            },
            group=cg.address,
            round=r,
            phase="decryption_share",
            timestamp_ms=int(time.time() * 1000),
        )
        before = self.api.bytes_sent
        try:
            self.api.post(
                f"groups/{g}/rounds/{r}/share/",
                {"share": b64e(blob), "tx": tx.to_dict(), "deposit_tx": deposit},
            )
            outcome = "share"
        except ApiError as exc:
            log.warning("decryption share of round %s refused: %s", r, exc.message)
            outcome = f"share refused: {exc.message}"
        self._record(r, share=outcome, bytes_sent=self.api.bytes_sent - before, seconds={
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
        tx = make_tx(
            self.identity,
            TxKind.DECRYPTION_REFUSAL,
            int(st["me"]["next_nonce"]),
            {"reason": reason[:300], "served_aggregate": served_hash},
            group=cg.address,
            round=r,
            phase="decryption_share",
            timestamp_ms=int(time.time() * 1000),
        )
        try:
            self.api.post(f"groups/{g}/rounds/{r}/refusal/", {"tx": tx.to_dict()})
            outcome = f"refused: {reason}"
        except ApiError as exc:
            outcome = f"refused: {reason} (refusal not recorded: {exc.message})"
        self._record(r, share=outcome, refusal=reason)
        return outcome

    def _record(self, r: int, *, seconds: dict[str, float] | None = None,
                bytes_sent: int = 0, **fields: Any) -> None:  # fmt: skip
        local = self._load_state()
        rec = local["rounds"].setdefault(str(r), {})
        rec.update(fields)
        rec["seconds"] = {**rec.get("seconds", {}), **(seconds or {})}
        rec["bytes_sent"] = rec.get("bytes_sent", 0) + bytes_sent
        self._save_state(local)

    # -- result (T_t6) and metrics --------------------------------------------------------------
    def _report_finished_rounds(self, st: dict[str, Any]) -> str:
        did = ""
        local = self._load_state()
        for r in st.get("finished_rounds", []):
            rec = local["rounds"].setdefault(str(r), {})
            if rec.get("metrics") or not (rec.get("gradient") or rec.get("share")):
                continue
            self.report_result(r, rec)
            rec["metrics"] = True
            self._save_state(local)
            did = "metrics"
        return did

    # -- the model update (T_t7) --------------------------------------------------------------
    def strategy(self) -> Strategy:
        """The group's strategy (FedProx mu and server optimizer); FedAvg if none recorded."""
        d = self.info().get("strategy")
        return Strategy.from_json(d) if d else Strategy()

    def optimizer_state(self, r: int, length: int) -> ServerState:
        """The server optimizer's state after round r - 1: re-derived from the published
        aggregates (S, n) of rounds 1..r-1 (a round without a result changes nothing), or the
        state this agent derived itself after round r - 1."""
        strat, s_bits = self.strategy(), scale_bits_of(self.scheme().scale)
        if not strat.stateful:
            return replay_state(strat, length, [], s_bits)
        if self._optimizer is not None and self._optimizer[0] == r - 1:
            return self._optimizer[1]
        aggs: list[tuple[np.ndarray, int] | None] = []
        for k in range(1, r):
            try:
                res = self.api.get(f"groups/{self.cfg.group}/rounds/{k}/result/")
            except ApiError as exc:
                if exc.status != 404:
                    raise
                aggs.append(None)
                continue
            aggs.append((ints_from_bytes(b64d(res["sums"])), int(res["n_accepted"])))
        return replay_state(strat, length, aggs, s_bits)

    def combined_model(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(W_r as this agent derives it, W_r as the platform published it): the decrypted
        aggregate of round r applied to W_{r-1} with the group's strategy."""
        g = self.cfg.group
        res = self.api.get(f"groups/{g}/rounds/{r}/result/")
        w_prev = floats_from_bytes(b64d(self.api.get(f"groups/{g}/rounds/{r}/params/")["data"]))
        sums = ints_from_bytes(b64d(res["sums"]))
        state = self.optimizer_state(r, w_prev.size)
        w, state = apply_strategy(
            self.strategy(), w_prev, sums, int(res["n_accepted"]), state,
            scale_bits_of(self.scheme().scale),
        )  # fmt: skip
        self._optimizer = (r, state)
        return w, floats_from_bytes(b64d(res["params"]))

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


# -- CLI -------------------------------------------------------------------------------------
def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m deepchain.party", description=__doc__.split("\n")[0]
    )
    p.add_argument("--api", required=True, help="platform base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--token", required=True, help="API token of the party's user")
    p.add_argument("--data", required=True, help="directory with the party's own IDX files")
    p.add_argument("--keystore", default=None, help="private directory (default: DATA/.keystore)")
    p.add_argument("--group", type=int, default=None, help="group id (default: my only group)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--show-address", action="store_true", help="print my identity and exit")
    p.add_argument(
        "--genesis-hash",
        default=None,
        help="pin the chain's genesis block (default: pinned on first use)",
    )
    p.add_argument(
        "--record-updates",
        action="store_true",
        help="keep each round's plaintext quantized update in KEYSTORE/updates/",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s party %(message)s")
    data = Path(args.data)
    keystore = Path(args.keystore) if args.keystore else data / ".keystore"
    cfg = AgentConfig(
        api=args.api,
        token=args.token,
        data_dir=data,
        keystore=keystore,
        record_updates=args.record_updates,
        genesis_hash=args.genesis_hash,
    )
    agent = PartyAgent(cfg)
    if args.show_address:
        print(
            json.dumps({"sign_pk": agent.identity.address, "box_pk": agent.identity.public.box_pk})
        )
        return 0
    agent.ensure_registered()
    if args.group is None:
        groups = agent.api.get("groups/mine/")
        if len(groups) != 1:
            print(f"choose a group with --group (member of {[x['id'] for x in groups]})")
            return 2
        cfg.group = int(groups[0]["id"])
    else:
        cfg.group = args.group
        agent.join(args.group)
    agent.run(args.poll)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
