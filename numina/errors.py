"""The API's error shapes (API.md), whatever raised them: DRF's exception handler.

Services raise Django's ``ValidationError`` (a field map) and ``DoesNotExist``; DRF knows
neither, so without this they would be 500s. Every error body carries ``detail`` and a
machine-readable ``code``, except field errors, which are DRF's field map.
"""

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, ObjectDoesNotExist | Http404):
        # One answer for "does not exist", "not a UUID" and "someone else's".
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, dict) and set(response.data) == {"detail"}:
        response.data["code"] = _code_of(exc)
    return response


def _code_of(exc) -> str:
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if isinstance(codes, str):
        return codes
    detail = codes.get("detail") if isinstance(codes, dict) else None
    if isinstance(detail, str):
        return detail
    return "error"


def error_response(
    *, detail: str, code: str, status_code: int = status.HTTP_400_BAD_REQUEST, **extra
) -> Response:
    return Response({"detail": detail, "code": code, **extra}, status=status_code)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
