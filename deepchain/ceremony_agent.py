"""A party's side of the dealerless key ceremony through the platform's REST API.

The platform only relays: each message round, every party posts one envelope per recipient
(``dkg.envelope``: sealed to the recipient's X25519 key, signed by the sender), then fetches
the envelopes addressed to it once every party has posted, opens them and hands the bodies
to its :class:`~deepchain.crypto.dkg.DKGParty`. At the end it keeps its key share s_i in its
keystore directory (file mode 0600, never sent anywhere) and reports only public values:
PK_model and the ceremony's public transcript (N, z1, z2, the Feldman commitments, the test
decryption with its Proof_CDs), which the platform checks (``dkg.verify``) before it records
Tran_co.

If a body fails a check that names its sender, the party reveals that body with the sender's
body signature (``POST .../ceremony/blame/``): the platform verifies that the sender sent
exactly that body and re-runs the check itself (``dkg.evidence``) before it names anyone.
The CLI agent and the demo's simulated parties run this same class (``PartyAgent.step``).
Its DKGParty lives in memory: an agent restarted mid-ceremony cannot resume, and the
round's deadline then names it as stalled.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from deepchain.crypto.dkg import CeremonyError, DKGParams, DKGParty
from deepchain.crypto.dkg.envelope import RelayTampering, open_signed, seal_message
from deepchain.crypto.dkg.verify import transcript_to_json
from deepchain.crypto.identity import Identity, PublicIdentity
from deepchain.crypto.paillier import KeyShare

log = logging.getLogger("deepchain.party")

#: ceremony states after which a party has nothing left to do
CEREMONY_ENDED = ("done", "failed")
#: the message round after which a "silent" demo party stops sending (mid-ceremony)
SILENT_FROM_ROUND = 2
#: the demo behaviour of a party that goes silent mid-ceremony
SILENT_IN_CEREMONY = "silent_keygen"
#: the demo behaviour of a party that deals the next party a share off its polynomial
CHEAT_IN_CEREMONY = "cheat_keygen"


class OffPolynomialDealer(DKGParty):
    """A malicious party (demo behaviour CHEAT_IN_CEREMONY): in the share phase it sends the
    next party f(j) + 1 instead of f(j), off the polynomial it committed to."""

    def _frame(self, step: tuple[str, dict[int, dict[str, Any]]]) -> dict[int, bytes]:
        phase, out = step
        if phase == "share":
            j = self.i % self.params.N + 1
            out = {**out, j: {**out[j], "f": out[j]["f"] + 1}}
        return super()._frame((phase, out))


class CeremonyApi(Protocol):
    def get(self, path: str) -> Any: ...

    def post(self, path: str, payload: dict[str, Any]) -> Any: ...


def share_path(keystore: Path, group_address: str) -> Path:
    """Where a party keeps its own key share of a group made by the ceremony."""
    return keystore / "key-shares" / f"{group_address}.json"


def save_share(path: Path, share: KeyShare) -> None:
    """Write the share readable by this user only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(share.to_json(), fh)
    tmp.replace(path)


def _b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class CeremonyClient:
    """Party ``group``'s ceremony client; :meth:`step` does what is due now and says what.

    ``party_factory(i, params)`` makes the party's state machine (a DKGParty; tests pass a
    malicious one); ``behaviour`` SILENT_IN_CEREMONY stops sending after round
    SILENT_FROM_ROUND (demo)."""

    def __init__(
        self,
        api: CeremonyApi,
        identity: Identity,
        group: int,
        keystore: Path,
        party_factory: Callable[[int, DKGParams], DKGParty] = DKGParty,
        behaviour: str = "honest",
    ) -> None:
        self.api = api
        self.identity = identity
        self.group = group
        self.keystore = keystore
        if behaviour == CHEAT_IN_CEREMONY and party_factory is DKGParty:
            party_factory = OffPolynomialDealer
        self.party_factory = party_factory
        self.behaviour = behaviour
        self.party: DKGParty | None = None
        self.round = 0  # the next round whose inbox this party has not consumed
        self.stopped = ""  # why this party stopped taking part (blame sent, tampering)
        self.reported = False
        self._ceremony = ""
        self._roster: dict[int, PublicIdentity] = {}
        self._index = 0
        self._address = ""

    def _path(self, suffix: str) -> str:
        return f"groups/{self.group}/ceremony/{suffix}"

    def step(self) -> str:
        """One step: "posted", "delivered", "reported", "blamed", "waiting", "silent" or
        "done" (the ceremony ended; the group's status says how)."""
        st = self.api.get(self._path(""))
        if st["status"] in CEREMONY_ENDED or (st["status"] == "verifying" and self.reported):
            return "done" if st["status"] in CEREMONY_ENDED else "waiting"
        if self.stopped:
            return "waiting"
        if self.party is None:
            self._start(st)
        assert self.party is not None
        if self.party.done:
            return self._report() if not self.reported else "waiting"
        if int(st["round"]) > self.round:
            return self._deliver()
        if int(st["round"]) == self.round and not st["me"]["posted"]:
            if self.behaviour == SILENT_IN_CEREMONY and self.round >= SILENT_FROM_ROUND:
                return "silent"
            return self._post()
        return "waiting"

    def _start(self, st: dict[str, Any]) -> None:
        params = DKGParams(int(st["n_bits"]), int(st["N"]), int(st["t"]))
        self._ceremony = st["ceremony"]
        self._roster = {
            int(r["index"]): PublicIdentity(sign_pk=r["address"], box_pk=r["box_pk"])
            for r in st["roster"]
        }
        self._index = int(st["me"]["index"])
        self._address = st["group_address"]
        if self._roster[self._index].sign_pk != self.identity.address:
            raise CeremonyError("the roster's entry for this party is not its identity")
        self.party = self.party_factory(self._index, params)

    def _post(self) -> str:
        assert self.party is not None
        out = self.party.outgoing()
        envelopes = {
            str(j): _b64e(
                seal_message(
                    self._ceremony, self.round, self._index, j, body, self.identity, self._roster[j]
                )  # fmt: skip
            )
            for j, body in out.items()
        }
        self.api.post(
            self._path("messages/"),
            {"round": self.round, "phase": self.party.phase, "envelopes": envelopes},
        )
        return "posted"

    def _deliver(self) -> str:
        assert self.party is not None
        got = self.api.get(self._path(f"inbox/{self.round}/"))["envelopes"]
        bodies, sigs = {}, {}
        try:
            for j_text, env in got.items():
                j = int(j_text)
                bodies[j], sigs[j] = open_signed(
                    _b64d(env), self._ceremony, self.round, j, self.identity, self._index,
                    self._roster,
                )  # fmt: skip
        except RelayTampering as exc:
            self.stopped = f"relay tampering: {exc}"
            log.warning("key ceremony: %s", exc)
            return "waiting"
        try:
            self.party.deliver(bodies)
        except CeremonyError as exc:
            return self._blame(exc, bodies, sigs)
        self.round += 1
        if self.party.done:
            return self._report()
        return "delivered"

    def _blame(self, exc: CeremonyError, bodies: dict, sigs: dict) -> str:
        self.stopped = str(exc)
        payload: dict[str, Any] = {"round": self.round, "reason": str(exc)[:300]}
        if exc.party is not None and exc.party in bodies:
            payload.update(accused=int(exc.party), body=_b64e(bodies[exc.party]),
                           body_signature=sigs[exc.party].hex())  # fmt: skip
        log.warning("key ceremony: %s", exc)
        self.api.post(self._path("blame/"), payload)
        return "blamed"

    def _report(self) -> str:
        assert self.party is not None and self.party.result is not None
        pk, share = self.party.result
        save_share(share_path(self.keystore, self._address), share)
        self.api.post(
            self._path("result/"),
            {"public_key": pk.to_json(), "transcript": transcript_to_json(self.party.transcript)},
        )
        self.reported = True
        return "reported"
