"""Vector operations: what the party agent and the workers call each round.

- encrypt_update: pack a quantized update, encrypt each plaintext, attach Proof_PK (fsver1):
  by default ONE batched proof for the whole update (zk.batch_proof_pk.prove_update), or one per
  ciphertext (proof_mode="each").
- verify_update / aggregate: the Trading and Processing contracts' checks and homomorphic sum.
- decryption_share / verify_decryption_share / combine_vector: collaborative decryption with a
  single batched Proof_CD per party per round (fsver2).
``processes > 1`` spreads the per-ciphertext work over a process pool (``chunks``).

Every proof is bound to a ``ProofContext`` (PK_model fingerprint, group, round, phase, the
prover's party index and address): provers pass their own, verifiers build it from the
submission as the chain records it (``proof_context``), so a blob resubmitted by another
party, replayed into another round or group, or spliced from two updates does not verify.

Its modules: ``update`` (the encrypted update and its checks), ``shares`` (decryption shares
and their combination), ``chunks`` (the process-pool helpers).
"""

from deepchain.crypto.vector.shares import (
    DecryptionShare,
    combine_vector,
    decryption_share,
    verify_decryption_share,
)
from deepchain.crypto.vector.update import (
    MAX_LENGTH,
    PROOF_MODES,
    EncryptedUpdate,
    aggregate,
    ciphertext_width,
    encrypt_update,
    proof_context,
    update_max_bytes,
    update_refusal,
    verify_update,
)

__all__ = [
    "DecryptionShare",
    "EncryptedUpdate",
    "MAX_LENGTH",
    "PROOF_MODES",
    "aggregate",
    "ciphertext_width",
    "combine_vector",
    "decryption_share",
    "encrypt_update",
    "proof_context",
    "update_max_bytes",
    "update_refusal",
    "verify_decryption_share",
    "verify_update",
]
