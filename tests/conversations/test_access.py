"""The one door to a user's conversations and messages (conversations/access.py): what it
answers, that the readers which used to trust their caller now go through it, and that no
other module of the project filters conversations or messages by owner."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import access, selectors, services
from conversations.models import Conversation

ROOT = Path(__file__).resolve().parents[2]
SCANNED_PACKAGES = ("conversations", "accounts")
# The door and the queryset methods it uses.
DOOR = {"conversations/access.py", "conversations/models.py"}
# Modules that act for no user, each for a reason given in access.py's docstring: the
# legacy importer tells "another user's legacy key" from "none yet" (to refuse, not
# create) by comparing owners.
JUSTIFIED = {"conversations/services/legacy_import.py"}
QUERYSET_CALLS = {
    "filter",
    "exclude",
    "get",
    "get_or_create",
    "update_or_create",
    "update",
    "delete",
    "values",
    "values_list",
}
OWNED_MODELS = {"Conversation", "Message"}

pytestmark = pytest.mark.django_db


def _root_name(node: ast.AST) -> str | None:
    """The name a chain like ``Conversation.objects.select_for_update().filter`` starts at."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_owner_lookup(name: str | None) -> bool:
    # ``owner__in`` is left out: the background sweepers skip the owners over today's
    # budget with it, acting for no user (access.py's docstring).
    return (
        name is not None
        and (name.startswith("owner") or "__owner" in name)
        and not name.endswith("__in")
    )


def ownership_decisions(source: str) -> list[str]:
    """Every place in ``source`` that decides ownership of a conversation or message:
    ``owned_by(…)``, an owner lookup on a Conversation/Message query, reading a user's
    ``.conversations`` relation, or comparing an ``owner_id``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "owned_by":
                found.append(f"line {node.lineno}: owned_by()")
            elif node.func.attr in QUERYSET_CALLS and _root_name(node.func) in OWNED_MODELS:
                found.extend(
                    f"line {node.lineno}: {node.func.attr}({keyword.arg}=…)"
                    for keyword in node.keywords
                    if _is_owner_lookup(keyword.arg)
                )
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "conversations"
            and isinstance(node.value, ast.Name | ast.Attribute)
            and (getattr(node.value, "id", None) or getattr(node.value, "attr", None)) == "user"
        ):
            found.append(f"line {node.lineno}: user.conversations")
        elif isinstance(node, ast.Compare) and any(
            isinstance(side, ast.Attribute) and side.attr == "owner_id"
            for side in [node.left, *node.comparators]
        ):
            found.append(f"line {node.lineno}: owner_id comparison")
    return found


def test_the_ownership_scanner_sees_each_spelling():
    # Without this, a scanner that found nothing would pass the test below for nothing.
    spellings = [
        "Conversation.objects.owned_by(user).get(pk=1)",
        "Conversation.objects.select_for_update().get(owner=user, pk=1)",
        "Message.objects.filter(conversation__owner=user)",
        "Conversation.objects.filter(owner_id=user.pk)",
        "request.user.conversations.all()",
        "stored.owner_id != user.pk",
    ]
    assert [len(ownership_decisions(spelling)) for spelling in spellings] == [1] * len(spellings)
    assert ownership_decisions("Tag.objects.filter(owner=user)") == []


def test_ownership_is_decided_only_in_the_access_module():
    offenders = {}
    for package in SCANNED_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or relative in DOOR | JUSTIFIED:
                continue
            found = ownership_decisions(path.read_text())
            if found:
                offenders[relative] = found
    assert offenders == {}


def test_conversation_for_is_the_users_conversation(user):
    mine = services.create_conversation(user=user, title="mine")
    assert access.conversation_for(user=user, conversation_id=mine.id) == mine
    assert access.conversation_for(user=user, conversation_id=str(mine.id)) == mine


@pytest.mark.parametrize("lock", [False, True])
@pytest.mark.parametrize("kind", ["another user's", "missing", "not a UUID"])
def test_conversation_for_anything_but_the_users_is_does_not_exist(user, other_user, kind, lock):
    theirs = services.create_conversation(user=other_user)
    conversation_id = {
        "another user's": theirs.id,
        "missing": uuid.uuid4(),
        "not a UUID": "12345",
    }[kind]
    with transaction.atomic(), pytest.raises(Conversation.DoesNotExist):
        access.conversation_for(user=user, conversation_id=conversation_id, lock=lock)


@pytest.mark.parametrize("lock", [False, True])
def test_conversation_for_takes_the_row_lock_only_when_asked(user, lock):
    mine = services.create_conversation(user=user)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        access.conversation_for(user=user, conversation_id=mine.id, lock=lock)
    assert [("FOR UPDATE" in query["sql"]) for query in queries] == [lock]


def test_owned_conversation_id_answers_like_conversation_for(user, other_user):
    mine = services.create_conversation(user=user)
    theirs = services.create_conversation(user=other_user)
    assert access.owned_conversation_id(user=user, conversation_id=str(mine.id)) == mine.id
    for conversation_id in (theirs.id, uuid.uuid4(), "12345", None):
        with pytest.raises(Conversation.DoesNotExist):
            access.owned_conversation_id(user=user, conversation_id=conversation_id)


def _with_a_message(owner) -> Conversation:
    conversation = services.create_conversation(user=owner, tags=["theirs"])
    services.add_message(user=owner, conversation_id=conversation.id, role="user", content="secret")
    conversation.refresh_from_db()  # its current message: the branch recent_messages reads
    return conversation


def test_recent_messages_read_none_of_another_users_conversation(user, other_user):
    theirs = _with_a_message(other_user)
    assert selectors.recent_messages(user=other_user, conversation=theirs, limit=5) != []
    assert selectors.recent_messages(user=user, conversation=theirs, limit=5) == []


def test_export_messages_read_none_of_another_users_conversation(user, other_user):
    theirs = _with_a_message(other_user)
    assert list(selectors.export_messages(user=other_user, conversation=theirs)) != []
    assert list(selectors.export_messages(user=user, conversation=theirs)) == []


def test_with_tag_names_reads_only_the_users_conversations(user, other_user):
    _with_a_message(other_user)
    mine = services.create_conversation(user=user, tags=["mine"])
    assert [(c.id, c.tag_list) for c in selectors.with_tag_names(user=user)] == [
        (mine.id, ["mine"])
    ]


def _imported_modules(relative: str) -> set[str]:
    """The project modules a file imports, resolved to dotted names."""
    path = ROOT / relative
    package = relative.removesuffix(".py").replace("/", ".").rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    "relative",
    [
        "conversations/selectors/__init__.py",
        "conversations/selectors/sidebar.py",
        "conversations/context.py",
        "conversations/access.py",
    ],
)
def test_readers_do_not_import_the_write_package(relative):
    # services import selectors and context: importing services back (once for its UUID
    # parser) made two import cycles.
    imported = _imported_modules(relative)
    assert not {name for name in imported if name.startswith("conversations.services")}
