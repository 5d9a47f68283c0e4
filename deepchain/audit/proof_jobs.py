"""The auditor's proof checks, fsver1 (Proof_PK of an update) and fsver2 (Proof_CD of a
decryption share), as jobs: a job is a tuple of blob hashes and the context the chain records,
so the in-order pass (``audit.protocol``) runs it inline or hands it to a process pool
(:func:`pool_proof_job`, the workers' entry point) and only looks the results up.
"""

from __future__ import annotations

import json
import time
from typing import Any

from deepchain.blobs import BlobError, BlobStore
from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.vector import (
    DecryptionShare,
    EncryptedUpdate,
    proof_context,
    update_refusal,
    verify_decryption_share,
)
from deepchain.incentives.clock import Phase

__all__ = ["load_aggregate", "load_pk", "pool_proof_job", "proof_job"]

_WORKER: dict[str, Any] = {}


def load_pk(store: BlobStore, h: str, cache: dict) -> ThresholdPublicKey:
    """PK_model from its blob ``h``, parsed once per ``cache``."""
    key = ("pk", h)
    if key not in cache:
        cache[key] = ThresholdPublicKey.from_json(json.loads(store.get(h)))
    return cache[key]


def load_aggregate(store: BlobStore, h: str, pk: ThresholdPublicKey, cache: dict) -> list[int]:
    """The aggregate's ciphertexts from its blob ``h``, parsed once per ``cache``."""
    key = ("agg", h)
    if key not in cache:
        cache[key] = EncryptedUpdate.from_bytes(store.get(h), pk).ciphertexts
    return cache[key]


def proof_job(store: BlobStore, job: tuple, cache: dict) -> tuple[bool, str, float]:
    """fsver1 ("pk", pk, packing, blob, length, where) or fsver2 ("cd", pk, aggregate, blob,
    where), where = (group, round, party index, party address) as the chain records the
    submission: (ok, why not, seconds) -- exactly the checks the platform's
    verify_gradient / verify_share make, with the proof context rebuilt from the chain."""
    t0 = time.perf_counter()
    try:
        pk = load_pk(store, job[1], cache)
        if job[0] == "pk":
            _, _, packing, blob, length, (group, rnd, index, address) = job
            ctx = proof_context(pk, group, rnd, Phase.T1.value, index, address)
            scheme = PackingScheme.from_json(json.loads(packing))
            upd = EncryptedUpdate.from_bytes(store.get(blob), pk)
            if length is not None and upd.length != length:
                ok, why = False, f"update length {upd.length} is not the model's {length}"
            else:
                why = update_refusal(pk, scheme, upd, ctx=ctx)
                ok = not why
        else:
            _, _, agg, blob, (group, rnd, index, address) = job
            ctx = proof_context(pk, group, rnd, Phase.T5.value, index, address)
            cts = load_aggregate(store, agg, pk, cache)
            ds = DecryptionShare.from_bytes(store.get(blob), pk)
            if ds.i != index:
                ok, why = False, f"share index {ds.i} is not the party's index {index}"
            elif len(ds.c_is) != len(cts):
                ok, why = False, "share length does not match the aggregate"
            else:
                ok = verify_decryption_share(pk, cts, ds, ctx=ctx)
                why = "" if ok else "Proof_CD does not verify"
    except BlobError as exc:
        ok, why = False, f"blob: {exc}"
    except (ValueError, TypeError, KeyError) as exc:  # CryptoFormatError is a ValueError
        ok, why = False, f"malformed: {exc}"
    return ok, why, time.perf_counter() - t0


def pool_proof_job(root: str, job: tuple) -> tuple[bool, str, float]:
    """``proof_job`` in a pool worker: the blob store at ``root`` and the parse cache are kept
    per worker process across jobs."""
    store = _WORKER.get(root)
    if store is None:
        store = _WORKER[root] = BlobStore(root)
    return proof_job(store, job, _WORKER.setdefault("cache", {}))
