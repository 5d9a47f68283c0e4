"""Human-readable names for what the pages show: phases, money reasons, known addresses.

One home for these labels: the group page, the dashboard (server snapshot and its script), the
wallet and the explorer all use them, so a phase or a reason reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from deepchain.incentives.clock import ROUND_ORDER, Phase

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
    groups = {a.split(":", 1)[1] for a in wanted if a.startswith(("escrow:", "pool:"))}
    by_addr = dict(
        CooperativeGroup.objects.filter(address__in=groups).values_list("address", "name")
    )
    for a in wanted:
        if a.startswith(("escrow:", "pool:")):
            kind, g = a.split(":", 1)
            names[a] = f"{kind} of “{by_addr.get(g, g)}”"
    return names
