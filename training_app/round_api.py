"""REST endpoints of a training round (mounted at /api/): the round state, W_{r-1}, a
party's gradient, decryption share or refusal, the aggregate, the result and its metrics.

Same rules as ``training_app.api``: token or session auth, a party acts only for itself, binary
payloads base64 in JSON, errors ``{"message", "code"}`` (400 schema, 409 rule, 413 too large).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deepchain.wire import b64e
from deepchain_web.api_errors import DomainError
from deepchain_web.fields import (
    RequestSerializer,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from deepchain_web.limits import INT64_MAX
from ledger_app.services import blob_store
from training_app import selectors, services, upload_limits
from training_app.api_common import blob_field, group_for, member_round_body, round_of


class RoundStateView(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="The current round, its phase and deadlines, and what I still have to do.",
    )
    def get(self, request, group_id: int):
        g = group_for(request, group_id)
        return Response(selectors.round_state(g, selectors.membership_of(g, request.user)))


class ParamsView(APIView):
    """W_{r-1}: the model round r starts from (float32, base64)."""

    @extend_schema(
        responses=inline_serializer(
            "RoundParams",
            {
                "round": serializers.IntegerField(),
                "blob": serializers.CharField(),
                "data": serializers.CharField(help_text="float32 parameters, base64"),
            },
        )
    )
    def get(self, request, group_id: int, number: int):
        g = group_for(request, group_id)
        r = round_of(g, number)
        h = selectors.params_before(r)
        return Response({"round": r.number, "blob": h, "data": b64e(blob_store().get(h))})


class GradientSerializer(RequestSerializer):
    update = StrictCharField(
        help_text="C(dW), Proof_PK and the slot-bound proof, base64: at most the size of the "
        "group's update (from its packing and model), never above DEEPCHAIN_MAX_BLOB"
    )
    tx = serializers.DictField()
    deposit_tx = serializers.DictField(required=False)


class ShareSerializer(RequestSerializer):
    share = StrictCharField(help_text="shares and Proof_CD, base64 (DEEPCHAIN_MAX_BLOB)")
    tx = serializers.DictField()
    deposit_tx = serializers.DictField(required=False)


class SubmissionResultSerializer(serializers.Serializer):
    status = serializers.CharField()
    blob = serializers.CharField()


def _submit(request, group_id: int, number: int, serializer, field: str, submit) -> Response:
    """Shared body of the gradient and share uploads: the caller acts only for itself."""
    g, m, d = member_round_body(request, group_id, number, serializer)
    limit, why = None, ""
    if field == "update":
        limit = upload_limits.gradient_blob_limit(g)
        why = f", the most an update of this group ({g.model_name}, {g.key_bits}-bit key) takes"
    sub = submit(
        group=g, round_number=number, membership=m, blob=blob_field(d[field], field, limit, why),
        signed_tx=d["tx"], signed_deposit=d.get("deposit_tx"),
    )  # fmt: skip
    return Response({"status": sub.status, "blob": sub.blob}, status=202)


class GradientView(APIView):
    """Upload C(dW) with Proof_PK, the signed GRADIENT transaction and its deposit."""

    @extend_schema(
        request=GradientSerializer,
        responses={
            202: SubmissionResultSerializer,
            413: OpenApiResponse(description="The update is larger than any update of this "
                                 "group can be (its packing and model): message says the size"),
        },
    )  # fmt: skip
    def post(self, request, group_id: int, number: int):
        def submit(*, blob, **kw):
            return services.submit_gradient(update_blob=blob, **kw)

        return _submit(request, group_id, number, GradientSerializer, "update", submit)


class ShareView(APIView):
    """Upload a decryption share with Proof_CD, the signed transaction and its deposit."""

    @extend_schema(request=ShareSerializer, responses={202: SubmissionResultSerializer})
    def post(self, request, group_id: int, number: int):
        def submit(*, blob, **kw):
            return services.submit_decryption_share(share_blob=blob, **kw)

        return _submit(request, group_id, number, ShareSerializer, "share", submit)


class RefusalSerializer(RequestSerializer):
    tx = serializers.DictField(help_text="the party's signed DECRYPTION_REFUSAL (with reason)")


class RefusalView(APIView):
    """Refuse to decrypt the round's aggregate (my agent could not verify it on chain): the
    signed DECRYPTION_REFUSAL goes on chain; no deposit, no penalty."""

    @extend_schema(request=RefusalSerializer, responses={202: SubmissionResultSerializer})
    def post(self, request, group_id: int, number: int):
        g, m, d = member_round_body(request, group_id, number, RefusalSerializer)
        sub = services.submit_decryption_refusal(
            group=g, round_number=number, membership=m, signed_tx=d["tx"]
        )
        return Response({"status": sub.status, "blob": sub.blob}, status=202)


class AggregateView(APIView):
    """C(sum dW) appended by the Processing contract (ciphertexts, base64)."""

    @extend_schema(
        responses=inline_serializer(
            "RoundAggregate",
            {
                "round": serializers.IntegerField(),
                "blob": serializers.CharField(),
                "n_accepted": serializers.IntegerField(),
                "data": serializers.CharField(help_text="ciphertexts, base64"),
            },
        )
    )
    def get(self, request, group_id: int, number: int):
        r = round_of(group_for(request, group_id), number)
        if not r.aggregate_blob:
            raise DomainError("no aggregate yet", code="not_ready", status_code=404)
        return Response({"round": r.number, "blob": r.aggregate_blob, "n_accepted": r.n_accepted,
                         "data": b64e(blob_store().get(r.aggregate_blob))})  # fmt: skip


class ResultView(APIView):
    """The decrypted aggregate S (int64), n accepted, and W_r (float32); never one party's dW."""

    @extend_schema(
        responses=inline_serializer(
            "RoundResult",
            {
                "round": serializers.IntegerField(),
                "n_accepted": serializers.IntegerField(),
                "accuracy": serializers.FloatField(allow_null=True),
                "loss": serializers.FloatField(allow_null=True),
                "result_blob": serializers.CharField(),
                "params_blob": serializers.CharField(),
                "sums": serializers.CharField(help_text="decrypted aggregate, int64, base64"),
                "params": serializers.CharField(help_text="W_r, float32, base64"),
            },
        )
    )
    def get(self, request, group_id: int, number: int):
        r = round_of(group_for(request, group_id), number)
        if not r.result_blob:
            raise DomainError("no result yet", code="not_ready", status_code=404)
        store = blob_store()
        return Response({
            "round": r.number, "n_accepted": r.n_accepted, "accuracy": r.accuracy,
            "loss": r.loss, "result_blob": r.result_blob, "params_blob": r.params_blob,
            "sums": b64e(store.get(r.result_blob)), "params": b64e(store.get(r.params_blob)),
        })  # fmt: skip


class MetricSerializer(RequestSerializer):
    accuracy = StrictFloatField(min_value=0.0, max_value=1.0)
    loss = StrictFloatField(min_value=0.0, max_value=1e12)
    seconds = serializers.DictField(
        child=StrictFloatField(min_value=0.0, max_value=1e9), required=False
    )
    bytes_sent = StrictIntegerField(min_value=0, max_value=INT64_MAX, default=0)


class MetricsView(APIView):
    @extend_schema(
        request=MetricSerializer,
        responses={201: inline_serializer("MetricRecorded", {"ok": serializers.BooleanField()})},
    )
    def post(self, request, group_id: int, number: int):
        g, m, d = member_round_body(request, group_id, number, MetricSerializer)
        services.record_metrics(
            group=g, round_number=number, membership=m, accuracy=d["accuracy"], loss=d["loss"],
            seconds=d.get("seconds"), bytes_sent=d["bytes_sent"],
        )  # fmt: skip
        return Response({"ok": True}, status=201)
