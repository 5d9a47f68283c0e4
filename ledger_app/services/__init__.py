"""Ledger services: the only code that writes ledger rows (see docs/SERVICES.md).

Every business action is one keyword-only function inside ``transaction.atomic()``. Money
moves only through :func:`move_money`; every stored transaction is a signed
``deepchain.ledger.transactions.Transaction`` validated by the core ``LedgerState`` rules
against the locked account rows, so replaying the chain yields the Account table's balances.
Private keys live in keystore files (settings.DEEPCHAIN_KEYSTORE), never in the database.

Its modules: ``keystore`` (the identities the platform holds, the blob store, the clock),
``chain`` (bootstrap, blocks, transactions, refusals), ``accounts`` (party accounts, grants).
"""

from ledger_app.services.accounts import (
    DEFAULT_GRANT,
    FAUCET_GRANT,
    create_party_account,
    hand_over_custodial_account,
    register_external_account,
)
from ledger_app.services.chain import (
    MONEY_KINDS,
    append_block,
    authorities,
    bootstrap_chain,
    contract_accounts,
    ensure_contract_account,
    genesis_block,
    move_money,
    node_names,
    record_rejection,
    submit_signed_transaction,
    submit_transaction,
)
from ledger_app.services.keystore import (
    authority_identity,
    blob_store,
    faucet_identity,
    holds_identity,
    keystore_path,
    load_or_create_identity,
    node_identity,
    now_ms,
    party_identity,
    treasury_identity,
)

__all__ = [
    "DEFAULT_GRANT",
    "FAUCET_GRANT",
    "MONEY_KINDS",
    "append_block",
    "authorities",
    "authority_identity",
    "blob_store",
    "bootstrap_chain",
    "contract_accounts",
    "create_party_account",
    "ensure_contract_account",
    "faucet_identity",
    "genesis_block",
    "hand_over_custodial_account",
    "holds_identity",
    "keystore_path",
    "load_or_create_identity",
    "move_money",
    "node_identity",
    "node_names",
    "now_ms",
    "party_identity",
    "record_rejection",
    "register_external_account",
    "submit_signed_transaction",
    "submit_transaction",
    "treasury_identity",
]
