"""The files endpoints of API.md ("Files"): upload, download, delete — thin views over
conversations/uploads.py (receiving safely) and services/files.py (storing).

The upload is streamed through ``uploads.LimitedUploadHandler`` (set up before anything
reads the body), so an over-size file is refused while it arrives. A download is an
attachment with a safe name, ``nosniff`` and a CSP that forbids everything, whatever the
type: a file is never rendered by the browser as a page of this site.
"""

from __future__ import annotations

import uuid

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from numina.errors import error_response
from numina.pools import waits

from .. import access, uploads
from ..downloads import file_response
from ..models import UserFile
from ..services import files as file_services


class FileSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserFile
        fields = ["id", "name", "content_type", "size", "sha256", "created_at"]
        read_only_fields = fields


class FileUploadInput(serializers.Serializer):
    file = serializers.FileField(
        help_text=(
            "PNG, JPEG, GIF, WebP, PDF or text (plain, Markdown, CSV, JSON), judged by the "
            "content; at most NUMINA_FILE_MAX_BYTES."
        )
    )


def start_upload(request) -> uploads.LimitedUploadHandler:
    """Stream the Django ``request``'s upload through a bounded handler (before its body
    is read by anything: the CSRF check of a session reads it)."""
    handler = uploads.LimitedUploadHandler(request, limits=file_services.upload_limits)
    uploads.prepare(request, handler=handler)
    return handler


def finish_upload(*, user, handler: uploads.LimitedUploadHandler, upload) -> UserFile:
    """The stored file, or a ``ValidationError`` (on ``file``) saying why not."""
    from django.core.exceptions import ValidationError

    if handler.refused is not None:
        raise ValidationError({"file": [file_services.refusal_detail(handler.refused)]})
    if handler.name_error is not None:
        raise ValidationError({"file": [handler.name_error]})
    if upload is None:
        raise ValidationError({"file": ["No file was submitted."]})
    try:
        return file_services.store_upload(user=user, upload=upload, name=upload.name)
    finally:
        upload.close()


@waits
class FileListView(APIView):
    parser_classes = [uploads.FileUploadParser]

    def initialize_request(self, request, *args, **kwargs):
        self.upload_handler = start_upload(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": FileUploadInput},
        responses={
            201: FileSerializer,
            400: OpenApiResponse(
                description=(
                    "Empty, over NUMINA_FILE_MAX_BYTES (refused while it streams), over the "
                    "quota, a type not allowed or not what it claims, or a bad name."
                )
            ),
        },
    )
    def post(self, request: Request) -> Response:
        upload = request.data.get(uploads.FIELD) if hasattr(request.data, "get") else None
        if isinstance(upload, str):
            upload = None
        user_file = finish_upload(user=request.user, handler=self.upload_handler, upload=upload)
        return Response(FileSerializer(user_file).data, status=status.HTTP_201_CREATED)


@waits
class FileDetailView(APIView):
    @extend_schema(
        responses={
            # The stored type, whatever it is (image/png, application/pdf, text/plain …).
            (200, "*/*"): OpenApiResponse(description="The bytes, as an attachment."),
            404: OpenApiResponse(description="No such file for this user."),
        }
    )
    def get(self, request: Request, file_id: uuid.UUID) -> FileResponse:
        return file_response(access.file_for(user=request.user, file_id=file_id))

    @extend_schema(
        responses={
            204: None,
            404: OpenApiResponse(description="No such file for this user."),
            409: OpenApiResponse(description="A message carries it (file_in_use)."),
        }
    )
    def delete(self, request: Request, file_id: uuid.UUID) -> Response:
        try:
            file_services.delete_file(user=request.user, file_id=file_id)
        except file_services.FileInUse:
            return error_response(
                detail=(
                    "A message carries this file; it is deleted with that message's conversation."
                ),
                code=file_services.FILE_IN_USE,
                status_code=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
