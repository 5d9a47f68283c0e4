"""REST endpoints of the dealerless key ceremony (mounted at /api/groups/<id>/ceremony/).

The platform only relays: a party posts one sealed, signed envelope per recipient each round
and fetches those addressed to it once the round has closed (base64 in JSON). Errors are
``{"message", "code"}``: 400 outside the schema, 403 not a party, 404 no ceremony or no such
envelope, 409 a rule of the ceremony refuses the request (wrong round, already posted, a
mis-addressed or unsigned envelope, an envelope that is not base64 or not keyed by a party
index, the ceremony ended).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deepchain.wire import b64e
from deepchain_web.api_errors import DomainError
from deepchain_web.fields import RequestSerializer, StrictCharField, StrictIntegerField
from deepchain_web.limits import base64_len, max_blob
from training_app import key_ceremony, selectors
from training_app.api_common import blob_field, group_for
from training_app.key_ceremony import MAX_ROUNDS, PHASES


class CeremonyView(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="The key ceremony: status, open round, phase, deadline, roster, who has "
        "posted, the relay's transcript hash, blame; `me` for a party of the group.",
    )
    def get(self, request, group_id: int):
        g = group_for(request, group_id)
        state = key_ceremony.ceremony_state(g, selectors.membership_of(g, request.user))
        if state is None:
            raise DomainError("this group has no key ceremony (yet)", code="no_ceremony",
                              status_code=404)  # fmt: skip
        return Response(state)


class EnvelopesSerializer(RequestSerializer):
    round = StrictIntegerField(min_value=0, max_value=MAX_ROUNDS)
    phase = serializers.ChoiceField(choices=PHASES)
    envelopes = serializers.DictField(
        child=StrictCharField(max_length=base64_len(max_blob())),
        help_text="recipient index (1..N) -> envelope, base64",
    )


class MessagesView(APIView):
    @extend_schema(request=EnvelopesSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, group_id: int):
        g = group_for(request, group_id)
        ser = EnvelopesSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        try:
            envs = {int(k): blob_field(v, f"envelope {k}") for k, v in d["envelopes"].items()}
        except ValueError:
            raise DomainError("envelopes are keyed by party index", code="bad_envelopes") from None
        res = key_ceremony.post_envelopes(group=g, user=request.user, round_no=d["round"],
                                          phase=d["phase"], envelopes=envs)  # fmt: skip
        return Response(res, status=202)


class InboxView(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="The envelopes addressed to me in a closed round: sender index -> base64.",
    )
    def get(self, request, group_id: int, number: int):
        g = group_for(request, group_id)
        got = key_ceremony.inbox(group=g, user=request.user, round_no=number)
        envelopes = {str(k): b64e(v) for k, v in sorted(got.items())}
        return Response({"round": number, "envelopes": envelopes})


class ResultSerializer(RequestSerializer):
    public_key = serializers.DictField(help_text="PK_model as the party ended with it")
    transcript = serializers.DictField(help_text="the public transcript (decimal strings)")


class ResultView(APIView):
    @extend_schema(request=ResultSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, group_id: int):
        g = group_for(request, group_id)
        ser = ResultSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        res = key_ceremony.post_result(group=g, user=request.user, public_key=d["public_key"],
                                       transcript=d["transcript"])  # fmt: skip
        return Response(res, status=202)


class BlameSerializer(RequestSerializer):
    round = StrictIntegerField(min_value=0, max_value=MAX_ROUNDS)
    reason = StrictCharField(max_length=300)
    accused = StrictIntegerField(min_value=1, max_value=16, required=False)
    body = StrictCharField(
        max_length=base64_len(max_blob()), required=False,
        help_text="the accused's revealed message body, base64",
    )  # fmt: skip
    body_signature = serializers.RegexField(
        r"^[0-9a-f]{128}$", required=False, help_text="the accused's body signature, hex"
    )


class BlameView(APIView):
    @extend_schema(request=BlameSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, group_id: int):
        g = group_for(request, group_id)
        ser = BlameSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        body = blob_field(d["body"], "body") if "body" in d else None
        sig = bytes.fromhex(d["body_signature"]) if "body_signature" in d else None
        res = key_ceremony.accuse(group=g, user=request.user, round_no=d["round"],
                                  reason=d["reason"], accused=d.get("accused"), body=body,
                                  body_signature=sig)  # fmt: skip
        return Response(res)
