"""REST endpoints of collaborative training (mounted at /api/): what party agents call.

Token or session auth. A party acts only for itself (its active membership; 403 otherwise);
binary payloads travel base64-encoded in JSON. Errors are ``{"message", "code"}``: 400 for a
request outside the schema, 409 for a well-formed one that a protocol or business rule refuses.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deepchain.agent_verify import MIN_CONTRIBUTORS
from deepchain.crypto.packing import L2_CLIP_MAX, L2_CLIP_MIN, l2_bound_error
from deepchain.incentives.clock import Phase
from deepchain.learning.strategies import DEFAULT_STRATEGY, STRATEGIES
from deepchain.learning.strategies import RANGES as STRATEGY_RANGES
from deepchain_web.fields import (
    RequestSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from deepchain_web.limits import INT32_MAX, INT64_MAX, MAX_PHASE_MS
from ledger_app.services import authority_identity
from training_app import presence, selectors, services
from training_app.api_common import group_for, member_of
from training_app.models import CooperativeGroup, Membership


class AgentAccountSerializer(serializers.Serializer):
    address = serializers.CharField()
    box_pk = serializers.CharField()
    nonce = serializers.IntegerField()
    balance = serializers.IntegerField()
    custodial = serializers.BooleanField()


class AgentStatusSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    username = serializers.CharField()
    tag = serializers.CharField()
    account = AgentAccountSerializer(allow_null=True)


class AgentRegisterSerializer(RequestSerializer):
    sign_pk = serializers.RegexField(r"^[0-9a-f]{64}$", help_text="Ed25519 public key, hex")
    box_pk = serializers.RegexField(r"^[0-9a-f]{64}$", help_text="X25519 public key, hex")
    signature = serializers.RegexField(r"^[0-9a-f]{128}$", help_text="Ed25519 signature")


class AgentRegisterView(APIView):
    """An external party agent registers the public keys it generated itself.

    GET: what to sign (user id) and the caller's account, if any. POST {sign_pk, box_pk,
    signature}: ``signature`` = Ed25519 over ``deepchain.wire.registration_message(user,
    sign_pk, box_pk)``; 201 on registration, 200 if these keys are already the caller's.
    """

    @extend_schema(responses=AgentStatusSerializer)
    def get(self, request):
        from deepchain.wire import REGISTER_TAG

        return Response({"user": request.user.id, "username": request.user.get_username(),
                         "tag": REGISTER_TAG,
                         "account": selectors.agent_account(request.user)})  # fmt: skip

    @extend_schema(
        request=AgentRegisterSerializer,
        responses={200: AgentAccountSerializer, 201: AgentAccountSerializer},
    )
    def post(self, request):
        ser = AgentRegisterSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        _acct, created = services.register_agent(user=request.user, **ser.validated_data)
        return Response(selectors.agent_account(request.user), status=201 if created else 200)


def _phase_durations() -> dict[str, serializers.Field]:
    fields = {}
    for phase in Phase:
        for name in (phase.name, phase.value):
            fields[name] = StrictIntegerField(
                min_value=1, max_value=MAX_PHASE_MS, required=False,
                help_text=f"duration of phase {phase.name} ({phase.value}), ms",
            )  # fmt: skip
    return fields


DeadlinesSerializer = type("Deadlines", (RequestSerializer,), _phase_durations())


def _range_field(key: str, help_text: str) -> StrictFloatField:
    lo, hi = STRATEGY_RANGES[key]
    return StrictFloatField(
        min_value=lo, max_value=hi, required=False, help_text=f"{help_text}; default per strategy"
    )


class GroupCreateSerializer(RequestSerializer):
    name = StrictCharField(max_length=120)
    n_parties = StrictIntegerField(min_value=MIN_CONTRIBUTORS, max_value=16)
    min_contributors = StrictIntegerField(
        min_value=MIN_CONTRIBUTORS, max_value=16, default=MIN_CONTRIBUTORS,
        help_text="no round with fewer accepted updates is decrypted (at least 3)",
    )  # fmt: skip
    simulated = StrictBooleanField(
        default=False,
        help_text="the platform runs (and holds the keys of) this group's parties: a demo; "
        "a real group (false) takes only party agents that hold their own keys",
    )  # fmt: skip
    threshold = StrictIntegerField(min_value=1, max_value=16)
    rounds = StrictIntegerField(min_value=1, max_value=1000)
    deposit = StrictIntegerField(min_value=1, max_value=INT64_MAX // 16)
    model_name = serializers.ChoiceField(choices=services.MODEL_NAMES, default="mlp")
    partition = serializers.ChoiceField(choices=services.PARTITIONS, default="iid")
    dirichlet_alpha = StrictFloatField(min_value=0.001, max_value=1000.0, default=0.5)
    local_iterations = StrictIntegerField(min_value=1, max_value=100_000, default=50)
    learning_rate = StrictFloatField(min_value=1e-6, max_value=10, default=0.1)
    batch_size = StrictIntegerField(min_value=1, max_value=60_000, default=64)
    deadlines = DeadlinesSerializer(required=False, help_text="phase -> duration in ms")
    l2_clip = StrictFloatField(
        required=False, allow_null=True, default=None,
        min_value=L2_CLIP_MIN, max_value=L2_CLIP_MAX,
        help_text="optional public L2 bound: agents clip ||dW||_2 to it and every update "
        "proves sum q^2 <= round(l2_clip * scale)^2 in its slot-bound proof (null: none); "
        "every model accepts the whole range",
    )  # fmt: skip
    strategy = serializers.ChoiceField(
        choices=STRATEGIES, default=DEFAULT_STRATEGY.name,
        help_text="server optimizer on the decrypted aggregate (learning.strategies; default "
        "the measured DEFAULT_STRATEGY)",
    )  # fmt: skip
    server_lr = _range_field("server_lr", "server learning rate eta (fedavgm, fedadam, fedyogi)")
    beta1 = _range_field("beta1", "momentum / first-moment decay")
    beta2 = _range_field("beta2", "second-moment decay (fedadam, fedyogi)")
    tau = _range_field("tau", "adaptivity tau (fedadam, fedyogi)")
    prox_mu = _range_field("mu", "FedProx proximal coefficient mu (0: plain local SGD)")

    def validate_l2_clip(self, value: float | None) -> float | None:
        if value is not None:
            why = l2_bound_error(self.initial_data.get("model_name") or "mlp", value)
            if why is not None:
                raise serializers.ValidationError(why)
        return value

    key_origin = serializers.ChoiceField(
        choices=services.KEY_ORIGINS, default=services.DEALERLESS,
        help_text="dealerless (default): the parties make PK_model in their own key ceremony "
        "(needs N >= 3 and t <= N - floor((N-1)/2)); dealer: the platform does, which would "
        "let it decrypt every update, so only for a simulated group (409 dealer_key_refused "
        "otherwise, unless DEEPCHAIN_ALLOW_DEALER_KEY is set, as in tests)",
    )  # fmt: skip


GROUP_RULES = (
    "Each field is checked against its range here (400). Rules across fields are the "
    "protocol's and answer 409 with the reason: the threshold t and min_contributors must "
    "not exceed N, fedavg has no server learning rate (server_lr only with fedavgm, "
    "fedadam or fedyogi), a dealerless key ceremony (the default) needs t <= N - "
    "floor((N-1)/2), and a dealer key only for a simulated group (code dealer_key_refused). A "
    "group whose update (the model's parameters packed at the key size, with Proof_PK and "
    "the slot-bound proof) exceeds DEEPCHAIN_MAX_BLOB is refused (409, code "
    "update_too_large, with the size it needs)."
)


class GroupSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = CooperativeGroup
        fields = ["id", "name", "address", "status", "n_parties", "threshold", "rounds",
                  "model_name", "partition", "deposit", "key_bits", "key_origin",
                  "current_round", "min_contributors", "simulated"]  # fmt: skip


class GroupListView(APIView):
    @extend_schema(responses=GroupSummarySerializer(many=True))
    def get(self, request):
        qs = selectors.visible_groups(request.user).order_by("-id")[:200]
        return Response(GroupSummarySerializer(qs, many=True).data)

    @extend_schema(
        request=GroupCreateSerializer,
        responses={
            201: GroupSummarySerializer,
            409: OpenApiResponse(description="A rule across fields refuses the settings "
                                 "(t > N; server_lr with fedavg; an update of the model at "
                                 "the key size, with its proofs, larger than one upload may "
                                 "be, code update_too_large; a dealer key for a real "
                                 "group, code dealer_key_refused): message says which"),
        },
        description=GROUP_RULES,
    )  # fmt: skip
    def post(self, request):
        ser = GroupCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = dict(ser.validated_data)
        options = {k: d.pop(k, None) for k in ("server_lr", "beta1", "beta2", "tau")}
        options["mu"] = d.pop("prox_mu", None)
        d["strategy"] = services.strategy_from_options(d.pop("strategy"), **options)
        g = services.create_group(initiator=request.user, **d)
        return Response(GroupSummarySerializer(g).data, status=201)


class MyGroupsView(APIView):
    @extend_schema(responses=GroupSummarySerializer(many=True))
    def get(self, request):
        qs = CooperativeGroup.objects.filter(
            members__user=request.user, members__status=Membership.Status.ACTIVE
        ).order_by("-id")
        return Response(GroupSummarySerializer(qs, many=True).data)


class GroupDetailView(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="The dashboard snapshot: round, phase, deadlines, submissions, penalties, "
        "payouts and accuracy curves. Members by address and party index; a member's "
        "username only for that member and staff (null otherwise).",
    )
    def get(self, request, group_id: int):
        return Response(selectors.group_snapshot(group_for(request, group_id), request.user))


class JoinSerializer(RequestSerializer):
    data_size = StrictIntegerField(min_value=0, max_value=INT32_MAX, default=0)
    deposit_tx = serializers.DictField(required=False)


class JoinView(APIView):
    @extend_schema(
        request=JoinSerializer,
        responses=inline_serializer(
            "JoinResult",
            {
                "index": serializers.IntegerField(allow_null=True),
                "status": serializers.CharField(),
                "stake": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request, group_id: int):
        g = group_for(request, group_id)
        ser = JoinSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        m = services.join_group(
            group=g, user=request.user, data_size=ser.validated_data["data_size"],
            signed_deposit=ser.validated_data.get("deposit_tx"),
        )  # fmt: skip
        return Response({"index": m.party_index, "status": m.status, "stake": m.stake_remaining})


class StartView(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer("StartResult", {"status": serializers.CharField()}),
    )
    def post(self, request, group_id: int):
        g = services.start_group(group=group_for(request, group_id), by=request.user)
        return Response({"status": g.status})


class HeartbeatSerializer(RequestSerializer):
    at_ms = StrictIntegerField(min_value=0, max_value=INT64_MAX)
    signature = serializers.RegexField(r"^[0-9a-f]{128}$", help_text="Ed25519 signature")


class HeartbeatView(APIView):
    """A running party agent says it is online: ``signature`` = Ed25519 by the member's key
    over ``deepchain.wire.heartbeat_message(group address, party address, at_ms)``."""

    @extend_schema(
        request=HeartbeatSerializer,
        responses=inline_serializer(
            "HeartbeatResult",
            {"online": serializers.BooleanField(), "last_seen": serializers.CharField()},
        ),
    )
    def post(self, request, group_id: int):
        g = group_for(request, group_id)
        ser = HeartbeatSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        m = presence.record_heartbeat(group=g, user=request.user, **ser.validated_data)
        st = presence.agent_status(m)
        return Response({"online": st["online"], "last_seen": st["last_seen"]})


class AbortSerializer(RequestSerializer):
    reason = StrictCharField(max_length=200, required=False, allow_blank=True)


class AbortView(APIView):
    """The initiator stops the group: open deposits and what is left of the stakes come back."""

    @extend_schema(
        request=AbortSerializer,
        responses=inline_serializer(
            "AbortResult",
            {"status": serializers.CharField(), "reason": serializers.CharField()},
        ),
    )
    def post(self, request, group_id: int):
        ser = AbortSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        g = services.abort_group(group=group_for(request, group_id), by=request.user,
                                 reason=ser.validated_data.get("reason", ""))  # fmt: skip
        return Response({"status": g.status, "reason": g.status_reason})


class MeView(APIView):
    """My membership: index, address, keys and training settings; my sealed key share."""

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="My membership, the public key, the packing, my sealed key share (sealed to "
        "my own X25519 key) and the training settings.",
    )
    def get(self, request, group_id: int):
        g = group_for(request, group_id)
        m = member_of(request, g)
        return Response({
            "group": g.id, "group_address": g.address, "party_index": m.party_index,
            "address": m.account.address, "deposit": g.deposit, "status": g.status,
            "public_key": g.public_key, "packing": g.packing,
            "sealed_key_share": m.sealed_key_share or None,
            "dealer": authority_identity().address,
            "model_name": g.model_name, "local_iterations": g.local_iterations,
            "learning_rate": g.learning_rate, "batch_size": g.batch_size,
            "update_clip": g.update_clip, "l2_clip": g.l2_clip, "seed": g.seed, "rounds": g.rounds,
            "strategy": selectors.strategy_of(g).to_json(),
            "deadlines": g.deadlines, "min_contributors": g.min_contributors,
            "simulated": g.simulated,
        })  # fmt: skip
