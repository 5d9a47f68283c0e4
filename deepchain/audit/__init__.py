"""Independent audit of an exported DeepChain ledger, in the paper's order of trust.

- chain: the chain's structure and money (hash links, Merkle roots, leader eligibility,
  signatures, quorum, nonces, balances) and the export format (``export_ledger``);
- served: the platform's served copies (rows, wallet histories, balances) against the chain;
- protocol: every proof, aggregate, result and settlement, from the export and the blobs;
- proof_jobs: its proof checks (fsver1, fsver2) as jobs, run inline or in a process pool;
- options: the protocol-check options both auditor command lines take;
- __main__: ``python -m deepchain.audit``, the command line.
"""
