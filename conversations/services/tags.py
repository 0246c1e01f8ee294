"""Writes to a user's tags themselves (rename, delete), as support makes them in the admin.

A tag is part of every conversation that carries it (sync and the cache show a
conversation with its tag names), so renaming or deleting one is a change to each of
those conversations: each takes the owner's next change number through ``save_changed``.
Locks follow the one order of every write: the conversations, then the tag, then the
change counter (last, inside ``save_changed``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from .. import access, validation
from ..models import Conversation, Tag
from .conversations import save_changed


def _lock_tagged(*, user, tag_id: Any) -> list[Conversation]:
    return list(
        access.owned_conversations(user=user)
        .select_for_update()
        .filter(tags__id=tag_id)
        .order_by("id")
    )


@transaction.atomic
def rename_tag(*, user, tag_id: Any, name: str) -> Tag:
    """Rename one of the user's tags; every conversation carrying it is changed."""
    clean_name = validation.FieldErrors()
    new_name = clean_name.check("name", validation.clean_tag_name, name)
    clean_name.raise_if_any()
    tagged = _lock_tagged(user=user, tag_id=tag_id)
    tag = Tag.objects.select_for_update().get(owner=user, pk=tag_id)
    if tag.name == new_name:
        return tag
    if Tag.objects.filter(owner=user, name=new_name).exists():
        raise ValidationError({"name": ["The user already has a tag with this name."]})
    tag.name = new_name
    tag.save(update_fields=["name"])
    for conversation in tagged:
        save_changed(conversation, fields=[])
    return tag


@transaction.atomic
def delete_tag(*, user, tag_id: Any) -> None:
    """Delete one of the user's tags; every conversation that carried it is changed."""
    tagged = _lock_tagged(user=user, tag_id=tag_id)
    Tag.objects.filter(owner=user, pk=tag_id).delete()
    for conversation in tagged:
        save_changed(conversation, fields=[])
