"""Human-readable names for what the pages show: phases, money reasons, known addresses.

One home for these labels: the group page, the dashboard (server snapshot and its script), the
wallet and the explorer all use them, so a phase or a reason reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from deepchain.incentives.clock import ROUND_ORDER, Phase
from deepchain.incentives.money import account_group, account_kind

#: T_tk of each phase (the paper's deadline names), in the order a round runs them
PHASE_T = {p.value: p.name for p in Phase}
RUN_ORDER = [(PHASE_T[p.value], p.value) for p in ROUND_ORDER]


def phase_label(phase: str | None) -> str:
    """``"gradient_submission"`` -> ``"T1 gradient submission"`` ("" for none)."""
    if not phase:
        return ""
    t = PHASE_T.get(phase)
    words = phase.replace("_", " ")
    return f"{t} {words}" if t else words


#: why money moved (contracts.Reason values and the ledger's own reasons) -> one phrase
REASONS = {
    "penalty:key_setup": "Key-setup deposit forfeited (named by the key ceremony)",
    "faucet grant": "Sign-up grant",
    "stake": "Stake locked in the group's escrow",
    "stake_return": "Stake returned",
    "deposit": "Deposit for a message",
    "payback": "Deposit paid back (message verified)",
    "extra_pay": "Extra pay (share of the penalties)",
    "penalty:invalid_proof": "Penalty: invalid proof",
    "penalty:late": "Penalty: late",
    "penalty:absent": "Penalty: absent",
    "deposit_refund": "Deposit refunded (the group ended)",
    "worker_fee": "Worker fee",
    "wallet moved to the party agent's own keys": "Wallet moved to your agent's keys",
}


def reason_label(reason: str | None) -> str:
    """A money reason as a phrase; unknown reasons are shown as they are."""
    return REASONS.get(reason or "", reason or "")


def address_names(addresses: Iterable[str]) -> dict[str, str]:
    """Names the platform knows for ``addresses``: account labels (user, worker node,
    authority, treasury) and ``escrow:``/``pool:`` accounts of a group (by its name)."""
    from ledger_app.models import Account
    from training_app.models import CooperativeGroup

    wanted = {a for a in addresses if a}
    names = {
        a.address: a.label
        for a in Account.objects.filter(address__in=wanted).only("address", "label")
        if a.label
    }
    shown = {a for a in wanted if account_kind(a) in ("escrow", "pool")}
    groups = {account_group(a) for a in shown}
    by_addr = dict(
        CooperativeGroup.objects.filter(address__in=groups).values_list("address", "name")
    )
    for a in shown:
        g = account_group(a)
        names[a] = f"{account_kind(a)} of “{by_addr.get(g, g)}”"
    return names


def payload_rows(payload: dict) -> list[dict]:
    """A transaction's signed payload as labelled rows: each value as text, and where the
    platform knows it, a link (a transaction or block hash) or a name (a known address);
    a money reason and a phase in words. Nested values stay compact JSON."""
    import json
    import re

    from django.urls import reverse

    from ledger_app.models import Block, Transaction

    hexes = {v for v in payload.values() if isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v)}
    txs = set(Transaction.objects.filter(tx_hash__in=hexes).values_list("tx_hash", flat=True))
    blocks = dict(Block.objects.filter(block_hash__in=hexes).values_list("block_hash", "height"))
    names = address_names(v for v in payload.values() if isinstance(v, str))
    rows = []
    for key in sorted(payload):
        value = payload[key]
        row = {"key": key.replace("_", " "), "text": "", "href": "", "name": "", "code": False}
        if isinstance(value, dict | list):
            row["text"], row["code"] = json.dumps(value, sort_keys=True), True
        elif isinstance(value, str):
            row["text"], row["code"] = value, value in hexes or ":" in value
            if value in txs:
                row["href"] = reverse("tx_detail", args=[value])
            elif value in blocks:
                row["href"] = reverse("block_detail", args=[blocks[value]])
            row["name"] = names.get(value, "")
            if key == "reason":
                row["name"] = reason_label(value) if reason_label(value) != value else ""
            elif key in ("phase", "closed", "opened"):
                row["name"] = phase_label(value) if value in PHASE_T else ""
            if key.endswith("blob") and not row["href"]:
                row["name"] = "content hash of the stored blob"
        else:
            row["text"] = json.dumps(value)
        row["text"] = row["text"] or "—"
        rows.append(row)
    return rows
