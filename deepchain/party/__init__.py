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
member yet, staking d with its own signed DEPOSIT. This package imports no Django.

Its modules: ``agent`` (:class:`PartyAgent`, one step of whatever is due), ``api`` (the REST
client), ``state`` (the local record of its rounds), ``model`` (the model update W_r as the
party re-derives it), ``faults`` (the demo's misbehaviours), ``cli`` (``python -m
deepchain.party``).
"""

from deepchain.party.agent import IDENTITY_FILE, AgentConfig, PartyAgent
from deepchain.party.api import Api, ApiError
from deepchain.party.cli import main
from deepchain.party.faults import (
    fault_in_round,
    model_replacement_update,
    norm_violating_update,
)

__all__ = [
    "IDENTITY_FILE",
    "AgentConfig",
    "Api",
    "ApiError",
    "PartyAgent",
    "fault_in_round",
    "main",
    "model_replacement_update",
    "norm_violating_update",
]
