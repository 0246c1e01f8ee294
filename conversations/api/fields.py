"""Serializer fields the API's request bodies share."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers


class CountFirstListField(serializers.ListField):
    """A list bounded by a setting, refused on its length before any item is parsed: a
    body of a million items must not have each read before the 400 (ListField's own
    ``max_length`` is checked only after every child was)."""

    # The setting holding the bound, and what the error calls the items.
    limit_setting: str
    items_name: str

    def to_internal_value(self, data: Any) -> list:
        limit = getattr(settings, self.limit_setting)
        if isinstance(data, list) and len(data) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} {self.items_name}."
            )
        return super().to_internal_value(data)
