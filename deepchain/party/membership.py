"""A party's account and membership: registering its own public keys with the platform and
joining a group with a stake it signs itself (external agents; simulated ones are set up by the
platform)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from deepchain.crypto.identity import Identity
from deepchain.ledger.transactions import TxKind, make_tx
from deepchain.party.api import Api, ApiError
from deepchain.wire import registration_message

log = logging.getLogger("deepchain.party")


def register_account(api: Api, identity: Identity) -> dict[str, Any]:
    """Register ``identity``'s public keys as the user's account (first run only).

    The private keys never leave the keystore: the platform gets sign_pk, box_pk and a
    signature over :func:`~deepchain.wire.registration_message`. Returns the account
    (address, nonce, ...).
    """
    reg = api.get("agents/register/")
    acct = reg.get("account")
    # first run; or the user's browser (custodial) wallet, which moves to these keys
    if acct is None or (acct["address"] != identity.address and acct.get("custodial")):
        msg = registration_message(reg["user"], identity.address, identity.public.box_pk)
        acct = api.post(
            "agents/register/",
            {
                "sign_pk": identity.address,
                "box_pk": identity.public.box_pk,
                "signature": identity.sign(msg).hex(),
            },
        )
        log.info("registered identity %s", identity.address[:16])
    elif acct["address"] != identity.address:
        raise ApiError(409, "this user already has another account; use its keystore")
    return acct


def join_group(
    api: Api,
    identity: Identity,
    group_id: int,
    own_data_size: Callable[[], int],
    data_size: int | None = None,
) -> dict[str, Any]:
    """Join ``group_id`` (if not a member yet), staking d with a DEPOSIT signed here; the data
    size claimed is ``data_size``, or ``own_data_size()`` (the party's training split)."""
    try:
        api.get(f"groups/{group_id}/me/")
        return {"joined": False}
    except ApiError as exc:
        if exc.status != 403:
            raise
    snap = api.get(f"groups/{group_id}/")["group"]
    acct = register_account(api, identity)
    if data_size is None:
        data_size = own_data_size()
    deposit = make_tx(
        identity,
        TxKind.DEPOSIT,
        int(acct["nonce"]) + 1,
        {"amount": int(snap["deposit"]), "reason": "stake"},
        group=snap["address"],
        timestamp_ms=int(time.time() * 1000),
    ).to_dict()
    res = api.post(f"groups/{group_id}/join/", {"data_size": int(data_size), "deposit_tx": deposit})
    log.info("joined group %s as party %s", group_id, res.get("index"))
    return {"joined": True, **res}
