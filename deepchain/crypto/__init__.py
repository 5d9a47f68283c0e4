"""DeepChain cryptography: threshold Paillier, packing, proofs, identities.

Public API (see the modules for details):
- paillier: ThresholdPublicKey, KeyShare, generate_threshold_keypair, verify_key_share, add,
  scalar_mul, negate, partial_decrypt, combine,
  decrypt_with_factors, plain_public_key
- encoding: PackingScheme
- zk.proof_pk: ProofPK, prove_pk, verify_pk; zk.batch_proof_pk: BatchProofPK, prove_update,
  verify_update_proof; zk.proof_cd: ProofCD, prove_cd, verify_cd
- vector: EncryptedUpdate, encrypt_update, verify_update, aggregate, DecryptionShare,
  decryption_share, verify_decryption_share, combine_vector
- serialize: CryptoFormatError
Importing this package is cheap; submodules load gmpy2/numpy when imported.
"""
