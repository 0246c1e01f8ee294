"""The auth endpoints of API.md: register, token, logout, me."""

from django.conf import settings
from django.contrib.auth import logout as session_logout
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import services
from .models import User


class UserSerializer(serializers.ModelSerializer):
    # Not EmailField: an account may have no email, and "" is not an email.
    email = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email"]
        read_only_fields = fields


class RegisterInput(serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Letters, digits and @/./+/-/_ only."},
    )
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    device_name = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100
    )


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )
    device_name = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    user = UserSerializer()


class _AuthEndpoint(APIView):
    """Open to anyone, throttled per client address (password guessing)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def _token_answer(self, user: User, device_name: str, status_code: int) -> Response:
        token, expires_at = services.issue_token(user=user, device_name=device_name)
        body = TokenSerializer({"token": token, "expires_at": expires_at, "user": user}).data
        return Response(body, status=status_code)


class RegisterView(_AuthEndpoint):
    @extend_schema(
        request=RegisterInput,
        responses={
            201: TokenSerializer,
            400: OpenApiResponse(description="Taken username or refused password."),
            403: OpenApiResponse(description="Sign-up is turned off."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        if not settings.NUMINA_ALLOW_SIGNUP:
            raise PermissionDenied("Sign-up is turned off.", code="signup_disabled")
        serializer = RegisterInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.register_user(
            username=data["username"], password=data["password"], email=data["email"]
        )
        return self._token_answer(user, data["device_name"], status.HTTP_201_CREATED)


class TokenView(_AuthEndpoint):
    @extend_schema(
        request=TokenInput,
        responses={200: TokenSerializer, 400: OpenApiResponse(description="Bad credentials.")},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.log_in(username=data["username"], password=data["password"])
        return self._token_answer(user, data["device_name"], status.HTTP_200_OK)


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if request.auth is not None:
            services.revoke_token(token=request.auth)  # this device only
        else:
            session_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)
