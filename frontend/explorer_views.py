"""The block explorer's pages: search, blocks and transactions, each re-verified on display
(hashes, Merkle root, signatures, committee votes) from its stored canonical JSON."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from ledger_app.models import Block, Transaction

from .forms import SearchForm
from .labels import address_names, payload_rows
from .paging import page_of


def block_checks(block: Block) -> list[tuple[str, bool]]:
    """Re-verify a stored block: hash, Merkle root, leader signature, committee votes."""
    from deepchain.ledger.blocks import Block as CoreBlock
    from deepchain.ledger.blocks import merkle_root

    try:
        core = CoreBlock.from_dict(json.loads(block.raw))
    except Exception:  # noqa: BLE001 - any decoding failure is a failed check
        return [("canonical block decodes", False)]
    hashes = core.tx_hashes()
    checks = [
        ("block hash matches its header", core.block_hash == block.block_hash),
        ("Merkle root over its transactions", merkle_root(hashes) == core.header.merkle_root),
    ]
    if core.height == 0:
        from deepchain.ledger.blocks import genesis_params

        try:
            genesis_params(core)
            ok = True
        except ValueError:
            ok = False
        checks.append(("genesis shape (no leader, one allocation)", ok))
        return checks
    checks += [
        ("leader signature", core.verify_leader_signature()),
        ("transaction signatures", all(t.verify_signature() for t in core.transactions)),
    ]
    if core.votes:
        checks.append((f"{len(core.votes)} committee votes", all(v.verify() for v in core.votes)))
    prev = Block.objects.filter(height=block.height - 1).first()
    if prev is not None:
        checks.append(("links to the previous block", block.prev_hash == prev.block_hash))
    return checks


def tx_checks(tx: Transaction) -> list[tuple[str, bool]]:
    from deepchain.ledger.transactions import Transaction as CoreTx

    try:
        core = CoreTx.from_dict(json.loads(tx.raw))
    except Exception:  # noqa: BLE001
        return [("canonical transaction decodes", False)]
    checks = [("hash matches the signed body", core.tx_hash == tx.tx_hash)]
    if core.kind == "genesis":
        checks.append(("genesis allocation (unsigned by design)", True))
    else:
        checks.append(("signature by the sender", core.verify_signature()))
    if tx.status == "confirmed" and tx.block is not None:
        checks.append(("included in a final block", tx.tx_hash in _block_tx_hashes(tx.block)))
    return checks


def _block_tx_hashes(block: Block) -> list[str]:
    from deepchain.ledger.blocks import Block as CoreBlock

    try:
        return CoreBlock.from_dict(json.loads(block.raw)).tx_hashes()
    except Exception:  # noqa: BLE001
        return []


def explorer(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    q = (request.GET.get("q") or "").strip().lower()
    if q:
        block = Block.objects.filter(block_hash__startswith=q).first() if len(q) >= 4 else None
        if block is not None:
            return redirect("block_detail", height=block.height)
        tx = Transaction.objects.filter(tx_hash__startswith=q).first() if len(q) >= 4 else None
        if tx is not None:
            return redirect("tx_detail", tx_hash=tx.tx_hash)
        if (
            q.isascii()
            and q.isdigit()
            and len(q) < 19
            and Block.objects.filter(height=int(q)).exists()
        ):
            return redirect("block_detail", height=int(q))
        messages.error(request, f"No block or transaction matches “{q}”.")
    blocks = Block.objects.order_by("-height")
    recent = Transaction.objects.order_by("-id")[:15]
    return render(
        request,
        "frontend/explorer/index.html",
        {"form": form, "page": page_of(request, blocks, 20), "recent": recent},
    )


def block_detail(request: HttpRequest, height: int) -> HttpResponse:
    block = get_object_or_404(Block, height=height)
    txs = block.transactions.order_by("index_in_block", "id")
    return render(
        request,
        "frontend/explorer/block.html",
        {"blk": block, "txs": txs, "checks": block_checks(block)},
    )


def tx_detail(request: HttpRequest, tx_hash: str) -> HttpResponse:
    tx = get_object_or_404(Transaction, tx_hash=tx_hash)
    from ledger_app.selectors import signed_fields

    signed = signed_fields(tx)  # what was signed, not the indexed column beside it
    body = signed.get("payload", tx.payload)
    payload = json.dumps(body, indent=2, sort_keys=True)
    rows = payload_rows(body) if isinstance(body, dict) else []
    return render(
        request,
        "frontend/explorer/tx.html",
        {
            "tx": tx,
            "payload": payload,
            "payload_rows": rows,
            "checks": tx_checks(tx),
            "sender_name": address_names([tx.sender]).get(tx.sender, ""),
        },
    )
