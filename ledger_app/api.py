"""REST API of the ledger (mounted at /api/ledger/): blocks, transactions, export, status,
the caller's wallet and transfers. Authenticated only; views call selectors and services."""

from __future__ import annotations

import base64
import json

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from deepchain.ledger.transactions import TxKind
from deepchain_web.api_errors import DomainError
from deepchain_web.fields import RequestSerializer, StrictCharField, StrictIntegerField
from deepchain_web.limits import INT32_MAX, INT64_MAX
from ledger_app import selectors, services
from ledger_app.models import Account, Block, LedgerEntry, Transaction


class TransactionSerializer(serializers.ModelSerializer):
    """A transaction as signed: kind, sender, nonce, group, round, phase and payload come
    from its canonical bytes (``raw``), not from the indexed columns beside them."""

    block_height = serializers.IntegerField(source="block.height", allow_null=True, default=None)
    group = serializers.CharField(source="group_ref")

    class Meta:
        model = Transaction
        fields = ["tx_hash", "kind", "sender", "nonce", "group", "round", "phase", "payload",
                  "status", "reason", "block_height", "index_in_block", "created_at"]  # fmt: skip

    def to_representation(self, instance: Transaction) -> dict:
        data = super().to_representation(instance)
        data.update(selectors.signed_fields(instance))
        return data


class BlockSerializer(serializers.ModelSerializer):
    class Meta:
        model = Block
        fields = ["height", "block_hash", "prev_hash", "merkle_root", "timestamp_ms", "leader",
                  "consensus_round", "tx_count", "created_at"]  # fmt: skip


class BlockDetailSerializer(BlockSerializer):
    votes = serializers.SerializerMethodField()
    transactions = serializers.SerializerMethodField()

    class Meta(BlockSerializer.Meta):
        fields = BlockSerializer.Meta.fields + ["votes", "transactions"]

    def get_votes(self, obj: Block) -> list[dict]:
        return json.loads(obj.raw).get("votes", [])

    def get_transactions(self, obj: Block) -> list[str]:
        return list(obj.transactions.order_by("index_in_block").values_list("tx_hash", flat=True))


class EntrySerializer(serializers.ModelSerializer):
    tx_hash = serializers.CharField(source="transaction.tx_hash", allow_null=True, default=None)

    class Meta:
        model = LedgerEntry
        fields = ["delta", "balance_after", "reason", "tx_hash", "created_at"]


TX_FILTERS = [
    OpenApiParameter(name, str, description=desc)
    for name, desc in [
        ("kind", "transaction kind (transfer, deposit, penalty, ...)"),
        ("status", "pending | confirmed | rejected"),
        ("group", "group address"),
        ("phase", "protocol phase"),
        ("sender", "sender address"),
    ]
] + [
    OpenApiParameter(
        "round", {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
        description="training round",
    )
]  # fmt: skip


class BlockList(generics.ListAPIView):
    """Blocks, newest first (limit/offset paging)."""

    serializer_class = BlockSerializer
    queryset = Block.objects.order_by("-height")


class TransactionList(generics.ListAPIView):
    """Transactions, newest first, filterable by kind, status, group, round, phase, sender."""

    serializer_class = TransactionSerializer

    @extend_schema(parameters=TX_FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = Transaction.objects.select_related("block").order_by("-id")
        p = self.request.query_params
        for param, field in [("kind", "kind"), ("status", "status"), ("group", "group_ref"),
                             ("phase", "phase"), ("sender", "sender")]:  # fmt: skip
            if p.get(param):
                qs = qs.filter(**{field: p[param]})
        if "round" in p:
            r = p["round"]
            if not (r.isascii() and r.isdigit()) or int(r) > INT32_MAX:
                raise ValidationError({"round": ["must be an integer from 0 to 2^31-1"]})
            qs = qs.filter(round=int(r))
        return qs


class ByHash(APIView):
    """One block or transaction by its hash (block height also accepted)."""

    @extend_schema(
        responses=inline_serializer(
            "LedgerObject",
            {"type": serializers.CharField(), "object": serializers.DictField()},
        )
    )
    def get(self, request, ref: str):
        is_height = ref.isascii() and ref.isdigit() and len(ref) < 19
        q = Q(block_hash=ref) | (Q(height=int(ref)) if is_height else Q())
        block = Block.objects.filter(q).first()
        if block is not None:
            return Response({"type": "block", "object": BlockDetailSerializer(block).data})
        tx = Transaction.objects.select_related("block").filter(tx_hash=ref).first()
        if tx is not None:
            return Response({"type": "transaction", "object": TransactionSerializer(tx).data})
        raise NotFound(f"no block or transaction {ref[:64]}")


class Export(APIView):
    """The whole ledger in the format ``python -m deepchain.audit`` verifies offline."""

    @extend_schema(
        responses=inline_serializer(
            "LedgerExport",
            {
                "version": serializers.IntegerField(),
                "genesis": serializers.JSONField(),
                "blocks": serializers.ListField(child=serializers.JSONField()),
                "workers": serializers.ListField(child=serializers.CharField()),
                "committee_size": serializers.IntegerField(),
                "authorities": serializers.ListField(child=serializers.CharField()),
                "stakes": serializers.JSONField(allow_null=True),
            },
        )
    )
    def get(self, request):
        return Response(selectors.export_ledger())


class Status(APIView):
    """Chain height, pending transactions, last consensus events and why no block if stalled."""

    @extend_schema(
        responses=inline_serializer(
            "ChainStatus",
            {
                "height": serializers.IntegerField(),
                "tip_hash": serializers.CharField(allow_null=True),
                "pending": serializers.IntegerField(),
                "stalled": serializers.BooleanField(),
                "why_no_block": serializers.CharField(allow_null=True),
                "events": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request):
        return Response(selectors.chain_status())


class Verify(APIView):
    """Re-verify the whole chain and every served copy now: the verdict and every problem
    found, each naming its block, transaction or row."""

    @extend_schema(
        responses=inline_serializer(
            "ChainVerdict",
            {
                "ok": serializers.BooleanField(),
                "reason": serializers.CharField(),
                "first_bad": serializers.JSONField(allow_null=True),
                "problems": serializers.ListField(
                    child=serializers.DictField(),
                    help_text="every failed check: block, tx, row, check, reason",
                ),
                "verdict": serializers.CharField(),
                "report": serializers.JSONField(allow_null=True),
            },
        )
    )
    def get(self, request):
        return Response(selectors.verify_chain().to_dict())


class ChainPage(APIView):
    """Final blocks from height ``from`` on (a page), in the export's block format: what a
    party agent downloads and verifies itself (hash links, quorum, signatures)."""

    @extend_schema(
        parameters=[OpenApiParameter(
            "from", {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
            description="first block height (default 0)",
        )],
        responses=inline_serializer(
            "ChainPage",
            {"from": serializers.IntegerField(),
             "blocks": serializers.ListField(child=serializers.JSONField())},
        ),
    )  # fmt: skip
    def get(self, request):
        raw = request.query_params.get("from", "0")
        if not (raw.isascii() and raw.isdigit() and len(raw) < 20) or int(raw) > INT64_MAX:
            # outside the documented parameter: a schema violation (400), not a refusal
            raise ValidationError({"from": ["must be a block height from 0 to 2^63-1"]})
        return Response({"from": int(raw), "blocks": selectors.blocks_from(int(raw))})


class BlobView(APIView):
    """One public blob (ciphertexts, shares, proofs, PK_model) by its SHA-256, base64: the
    caller re-hashes it (nothing it gets from here is trusted without that check)."""

    @extend_schema(
        responses=inline_serializer(
            "Blob", {"blob": serializers.CharField(), "data": serializers.CharField()}
        )
    )
    def get(self, request, h: str):
        from deepchain.blobs import BlobError

        try:
            data = services.blob_store().get(h)
        except BlobError:
            raise DomainError(f"no blob {h[:64]}", code="not_found", status_code=404) from None
        return Response({"blob": h, "data": base64.b64encode(data).decode("ascii")})


def _my_account(request) -> Account:
    acct = Account.objects.filter(user=request.user).first()
    if acct is None:
        raise DomainError("you have no wallet yet", code="no_account", status_code=404)
    return acct


class Wallet(APIView):
    """The caller's account: address, balance and latest ledger entries."""

    @extend_schema(
        responses=inline_serializer(
            "Wallet",
            {
                "address": serializers.CharField(),
                "kind": serializers.CharField(),
                "balance": serializers.IntegerField(),
                "nonce": serializers.IntegerField(),
                "entries": EntrySerializer(many=True),
            },
        )
    )
    def get(self, request):
        acct = _my_account(request)
        entries = acct.entries.select_related("transaction").order_by("-id")[:100]
        return Response({"address": acct.address, "kind": acct.kind, "balance": acct.balance,
                         "nonce": acct.nonce,
                         "entries": EntrySerializer(entries, many=True).data})  # fmt: skip


class TransferIn(RequestSerializer):
    to = StrictCharField(max_length=80)
    amount = StrictIntegerField(min_value=1, max_value=INT64_MAX)
    reason = StrictCharField(max_length=200, required=False, default="transfer")


class Transfer(APIView):
    """Send DeepCoin from the caller's (custodial) wallet to another address."""

    @extend_schema(request=TransferIn, responses={201: TransactionSerializer})
    def post(self, request):
        data = TransferIn(data=request.data)
        data.is_valid(raise_exception=True)
        acct = _my_account(request)
        to = data.validated_data["to"]
        if not Account.objects.filter(address=to).exists():
            raise DomainError(f"unknown recipient {to[:24]}", code="unknown_recipient")
        if not Account.objects.filter(
            address=to, kind__in=["party", "worker", "treasury"]
        ).exists():
            raise DomainError("transfers go to party or worker addresses only", code="recipient")
        tx = services.move_money(
            source=acct.address, destination=to, amount=data.validated_data["amount"],
            kind=TxKind.TRANSFER, reason=data.validated_data["reason"],
            signer=services.party_identity(acct),
        )  # fmt: skip
        return Response(TransactionSerializer(tx).data, status=201)
