"""Encodings the agent, the platform and the tools share (no Django, no crypto state).

- Byte formats of blobs: a model W as little-endian float32, an integer vector (quantized
  update, aggregate sums) as little-endian int64; base64 for JSON bodies.
- What an agent signs with pk_psu's private key: its registration (proof of possession, bound
  to the platform user) and its heartbeats (bound to the group and the party, with the agent's
  own clock). The agent signs them (``deepchain.party``); the platform checks them.
"""

from __future__ import annotations

import base64

import numpy as np

from deepchain.canonical import canonical_json

__all__ = [
    "HEARTBEAT_TAG",
    "REGISTER_TAG",
    "b64d",
    "b64e",
    "floats_from_bytes",
    "floats_to_bytes",
    "heartbeat_message",
    "ints_from_bytes",
    "ints_to_bytes",
    "registration_message",
]

#: domain tag of the proof of possession an agent signs when it registers its public keys
REGISTER_TAG = "deepchain/agent-register/v1"
#: domain tag of the heartbeat a running agent signs (the group page shows it online)
HEARTBEAT_TAG = "deepchain/agent-heartbeat/v1"


def b64e(data: bytes) -> str:
    """Standard base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    """The bytes of standard base64 ``text`` (ValueError on anything else)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def floats_to_bytes(w: np.ndarray) -> bytes:
    """W as little-endian float32 bytes (the params blob format)."""
    return np.asarray(w, dtype="<f4").reshape(-1).tobytes()


def floats_from_bytes(data: bytes) -> np.ndarray:
    """The float32 vector of ``floats_to_bytes`` output."""
    if len(data) % 4:
        raise ValueError("float32 vector: length is not a multiple of 4")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def ints_to_bytes(q: np.ndarray) -> bytes:
    """An integer vector (quantized update, aggregate sums) as little-endian int64 bytes."""
    return np.asarray(q, dtype="<i8").reshape(-1).tobytes()


def ints_from_bytes(data: bytes) -> np.ndarray:
    """The int64 vector of ``ints_to_bytes`` output."""
    if len(data) % 8:
        raise ValueError("int64 vector: length is not a multiple of 8")
    return np.frombuffer(data, dtype="<i8").astype(np.int64)


def registration_message(user_id: int, sign_pk: str, box_pk: str) -> bytes:
    """What an agent signs with pk_psu's private key to register it (proof of possession),
    bound to the platform user, so a captured signature registers nothing for anyone else."""
    doc = {"tag": REGISTER_TAG, "user": int(user_id), "sign_pk": sign_pk, "box_pk": box_pk}
    return canonical_json(doc)


def heartbeat_message(group_address: str, party: str, at_ms: int) -> bytes:
    """What a running agent signs with pk_psu's private key to say it is online in a group:
    bound to the group and the party, with the agent's own clock (the platform accepts each
    heartbeat once, newer than the last, and close to its own time)."""
    doc = {"tag": HEARTBEAT_TAG, "group": group_address, "party": party, "at_ms": int(at_ms)}
    return canonical_json(doc)
