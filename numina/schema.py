"""The OpenAPI schema's shared parts: the answers every operation can give besides its own."""

from drf_spectacular.openapi import AutoSchema

from .errors import ErrorSerializer


class NuminaAutoSchema(AutoSchema):
    """Documents the answers every operation can give besides its own: 401 where
    credentials are needed, and 429 when throttled."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        if self._needs_credentials():
            responses.setdefault("401", self._get_response_for_code(ErrorSerializer, "401"))
        responses.setdefault("429", self._get_response_for_code(ErrorSerializer, "429"))
        return responses

    def _needs_credentials(self) -> bool:
        return not all(
            getattr(permission, "__name__", "") == "AllowAny"
            for permission in self.view.permission_classes
        )
