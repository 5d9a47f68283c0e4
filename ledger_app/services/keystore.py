"""The platform's keystore: the identities it holds (authority, treasury, faucet, worker nodes,
simulated parties) as private files under settings.DEEPCHAIN_KEYSTORE, never in the database;
the blob store; the clock."""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from deepchain.blobs import BlobStore
from deepchain.crypto.identity import Identity
from deepchain_web.api_errors import DomainError
from ledger_app.models import Account


# -- keystore ------------------------------------------------------------------------------
def keystore_path(*parts: str) -> Path:
    return Path(settings.DEEPCHAIN_KEYSTORE).joinpath(*parts)


def load_or_create_identity(path: Path) -> Identity:
    """Load a keystore file, or create it race-free (several processes may bootstrap at once:
    the file is published with ``os.link``, which fails if another process won)."""
    if path.exists():
        return Identity.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.new")
    Identity.generate().save(tmp)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return Identity.load(path)


@lru_cache(maxsize=256)
def _cached_identity(path: str) -> Identity:
    return load_or_create_identity(Path(path))


def authority_identity() -> Identity:
    """The contracts/clock authority (keystore ``authority.json``): signs PAYOUT/PENALTY/CLOCK."""
    return _cached_identity(str(keystore_path("authority.json")))


def treasury_identity() -> Identity:
    """The treasury (keystore ``treasury.json``): holds the genesis supply, funds the faucet."""
    return _cached_identity(str(keystore_path("treasury.json")))


def faucet_identity() -> Identity:
    """The faucet (keystore ``faucet.json``): pays sign-up grants, within its own limit."""
    return _cached_identity(str(keystore_path("faucet.json")))


def node_identity(name: str) -> Identity:
    """A worker node's key (keystore ``nodes/<name>.json``); loaded by that node's tasks."""
    return _cached_identity(str(keystore_path("nodes", f"{name}.json")))


def holds_identity(account: Account) -> bool:
    """True iff the platform's keystore holds this account's private keys (custodial)."""
    return keystore_path("users", f"{account.address}.json").exists()


def party_identity(account: Account) -> Identity:
    """A custodial party identity (keystore ``users/<address>.json``)."""
    p = keystore_path("users", f"{account.address}.json")
    if not p.exists():
        raise DomainError("this account's keys are held by its owner, not the platform",
                          code="external_account")  # fmt: skip
    return Identity.load(p)


def blob_store() -> BlobStore:
    return BlobStore(settings.DEEPCHAIN_BLOBS)


def now_ms() -> int:
    return int(time.time() * 1000)
