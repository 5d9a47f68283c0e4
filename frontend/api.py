"""REST endpoints owned by the web platform: API tokens for automation and party agents."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from deepchain_web.fields import RequestSerializer, StrictCharField
from deepchain_web.throttling import TokenThrottle, WriteThrottle


class TokenRequestSerializer(RequestSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


TokenResponse = inline_serializer("TokenResponse", {"token": serializers.CharField()})
MeResponse = inline_serializer(
    "Me",
    {
        "username": serializers.CharField(),
        "address": serializers.CharField(allow_null=True),
        "balance": serializers.IntegerField(allow_null=True),
        "is_auditor": serializers.BooleanField(),
    },
)


class TokenView(APIView):
    """POST username/password -> the user's API token (created on first use).
    DELETE (authenticated) revokes the caller's token."""

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self):
        return [TokenThrottle()] if self.request.method == "POST" else [WriteThrottle()]

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponse}, auth=[])
    def post(self, request):
        ser = TokenRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=ser.validated_data["username"],
            password=ser.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise AuthenticationFailed("Unable to log in with the given username and password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The caller's username, pseudonymous address and balance."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeResponse})
    def get(self, request):
        from ledger_app.models import Account

        from .permissions import is_auditor

        account = Account.objects.filter(user=request.user).first()
        return Response(
            {
                "username": request.user.get_username(),
                "address": account.address if account else None,
                "balance": account.balance if account else None,
                "is_auditor": is_auditor(request.user),
            }
        )
