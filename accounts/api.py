"""The auth endpoints of API.md: register, token, logout, logout-all, devices, me."""

import uuid

from django.conf import settings
from django.contrib.auth import logout as session_logout
from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import DeviceName, User, signed_in_user
from .throttling import ACCOUNT_DELETION_THROTTLES, SIGN_IN_THROTTLES


class UserSerializer(serializers.ModelSerializer):
    # Not EmailField: an account may have no email, and "" is not an email.
    email = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email"]
        read_only_fields = fields


class UsernameField(serializers.CharField):
    """Django's forms' rule: NFKC-normalized (User.normalize_username) before any check,
    so the length and the characters checked are the ones stored."""

    def to_internal_value(self, data) -> str:
        return User.normalize_username(super().to_internal_value(data))


class RegisterInput(serializers.Serializer):
    username = UsernameField(
        max_length=150,
        validators=[RegexValidator(r"^[\w.@+-]+\Z", message="Letters, digits and @/./+/-/_ only.")],
    )
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    device_name = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100
    )


class TokenInput(serializers.Serializer):
    username = UsernameField(max_length=150)
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
    """Open to anyone, throttled per client address and per username (password guessing)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = list(SIGN_IN_THROTTLES)

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
            # Django's logout takes the HttpRequest DRF wraps (DRF documents _request).
            session_logout(request._request)  # noqa: SLF001
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeleteAccountInput(serializers.Serializer):
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )


class MeView(APIView):
    def get_throttles(self):
        # Deleting checks the password: it counts in the sign-in buckets, like log-in.
        if self.request.method == "DELETE":
            return [*super().get_throttles(), *(t() for t in ACCOUNT_DELETION_THROTTLES)]
        return super().get_throttles()

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        request=DeleteAccountInput,
        responses={
            204: None,
            400: OpenApiResponse(description="Missing or wrong password; nothing was deleted."),
            429: OpenApiResponse(description="Too many password attempts; see Retry-After."),
        },
    )
    def delete(self, request: Request) -> Response:
        serializer = DeleteAccountInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.delete_account(
            user=signed_in_user(request), password=serializer.validated_data["password"]
        )
        if request.auth is None:
            # Signed in with a session (the browser): it names a user who is gone.
            session_logout(request._request)  # noqa: SLF001
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.revoke_all_tokens(user=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceSerializer(serializers.Serializer):
    """A signed-in device: never its token, which only the device itself ever saw."""

    id = serializers.UUIDField(source="device_id")
    device_name = serializers.CharField(source="name")
    created_at = serializers.DateTimeField(source="token.created")
    expires_at = serializers.DateTimeField(source="token.expiry", allow_null=True)
    current = serializers.SerializerMethodField()

    def get_current(self, device: DeviceName) -> bool:
        """Whether this is the token the request itself came with."""
        token = self.context["request"].auth
        return token is not None and device.token_id == token.pk


class DeviceListView(APIView):
    @extend_schema(responses={200: DeviceSerializer(many=True)})
    def get(self, request: Request) -> Response:
        devices = selectors.live_devices(user=signed_in_user(request))
        return Response(DeviceSerializer(devices, many=True, context={"request": request}).data)


class DeviceDetailView(APIView):
    @extend_schema(
        responses={
            204: None,
            404: OpenApiResponse(
                description="No such device for this user (also: not a UUID, or another user's)."
            ),
        }
    )
    def delete(self, request: Request, device_id: uuid.UUID) -> Response:
        services.revoke_device(user=signed_in_user(request), device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
