"""numina/compiled.py: a query compiled once sends exactly what the ORM would build for the
same values, gives the rows the ORM gives, and refuses a value that would change its text."""

import threading
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models.expressions import RawSQL
from knox.models import get_token_model

from accounts import auth
from conversations import access, services
from conversations.api.views import MESSAGE_COLUMNS
from conversations.models import Conversation, Message
from conversations.selectors import branches
from numina.compiled import CompiledQuery

pytestmark = pytest.mark.django_db


def _chat(user, *, replies: int = 3) -> Conversation:
    conversation = services.create_conversation(user=user, title="compiled")
    for n in range(replies):
        services.add_message(
            user=user,
            conversation_id=conversation.id,
            role="user" if n % 2 == 0 else "assistant",
            content=f"message {n}",
            metadata={"n": n, "nested": [n, None]},
            attachments=[f"https://example.com/{n}.png"],
        )
    conversation.refresh_from_db()
    return conversation


def _recent_values(user, conversation, limit: int) -> dict:
    return {
        "user_id": user.pk,
        "conversation_id": conversation.id,
        "leaf_id": conversation.current_message_id,
        "limit": limit,
    }


@pytest.mark.parametrize("limit", [1, 2, 20])
def test_the_recent_branch_sends_what_the_orm_builds(user, limit):
    conversation = _chat(user)
    values = _recent_values(user, conversation, limit)
    shape = {"columns": tuple(MESSAGE_COLUMNS)}

    compiled = branches.RECENT_ROWS.sql_with_params(shape=shape, **values)

    built = branches.recent_rows_query(**values, **shape).query.sql_with_params()
    assert compiled == (built[0], list(built[1]))


def test_the_recent_branch_gives_the_orms_rows(user, other_user):
    conversation = _chat(user)
    values = _recent_values(user, conversation, 2)
    shape = {"columns": tuple(MESSAGE_COLUMNS)}

    rows = branches.RECENT_ROWS.rows(shape=shape, **values)

    assert rows == list(branches.recent_rows_query(**values, **shape))
    assert [row["content"] for row in rows] == ["message 1", "message 2"]
    assert rows[1]["metadata"] == {"n": 2, "nested": [2, None]}
    # Another user's id reads nothing of it: the door is inside the compiled query.
    assert branches.RECENT_ROWS.rows(shape=shape, **{**values, "user_id": other_user.pk}) == []


def test_the_token_lookup_sends_what_the_orm_builds_and_reads_its_token(user, token_for):
    token = token_for(user)
    token_key = token[:8]

    compiled = auth.TOKEN_ROWS.sql_with_params(token_key=token_key)

    built = auth.token_rows_query(token_key=token_key).query.sql_with_params()
    assert compiled == (built[0], list(built[1]))
    (found,) = auth.tokens(token_key=get_token_model().objects.get(user=user).token_key)
    assert found.user == user
    assert found.user.email == user.email
    assert found.digest == get_token_model().objects.get(user=user).digest


def _by_title(*, title: str):
    return Conversation.objects.filter(title=title).values("id", "title")


@pytest.mark.django_db(transaction=True)  # the other thread's connection sees the commit
def test_each_thread_compiles_its_own_and_gets_the_same_rows(user):
    conversation = services.create_conversation(user=user, title="threads")
    query = CompiledQuery(_by_title, params={"title": str})
    found = {}

    def read(name):
        found[name] = query.rows(title="threads")

    def read_in_a_thread(name):
        try:
            read(name)
        finally:
            connection.close()

    thread = threading.Thread(target=read_in_a_thread, args=("other",))
    thread.start()
    thread.join()
    read("this")

    assert found["this"] == found["other"] == [{"id": conversation.id, "title": "threads"}]


def _newest(*, title: str, limit: int):
    return Conversation.objects.filter(title=title).values("id")[:limit]


def test_a_value_that_changes_the_sql_text_is_refused():
    # A slice's bound is written into the SQL, not sent as a parameter: it is shape.
    query = CompiledQuery(_newest, params={"title": str, "limit": int})

    with pytest.raises(ImproperlyConfigured, match="limit"):
        query.rows(title="x", limit=3)


def _titled(*, title: str):
    # The value written into the SQL's text as well as sent as a parameter.
    written = RawSQL(f"'{title}'", [])  # noqa: S611 (the test's own marker, on purpose)
    return (
        Conversation.objects.filter(title=title).annotate(written=written).values("id", "written")
    )


def test_a_value_written_into_the_sql_text_is_refused():
    query = CompiledQuery(_titled, params={"title": str})

    with pytest.raises(ImproperlyConfigured, match="title"):
        query.rows(title="x")


def test_the_shape_compiles_each_text_once():
    query = CompiledQuery(_newest, params={"title": str})

    three = query.sql_with_params(shape={"limit": 3}, title="x")
    five = query.sql_with_params(shape={"limit": 5}, title="x")

    assert "LIMIT 3" in three[0]
    assert "LIMIT 5" in five[0]
    assert three[1] == five[1] == ["x"]


def test_model_instances_are_refused():
    query = CompiledQuery(lambda *, pk: Message.objects.filter(pk=pk), params={"pk": uuid.UUID})

    with pytest.raises(ImproperlyConfigured, match="values"):
        query.rows(pk=uuid.uuid4())


def test_missing_or_extra_values_are_an_error():
    query = CompiledQuery(_by_title, params={"title": str})

    with pytest.raises(TypeError):
        query.rows()
    with pytest.raises(TypeError):
        query.rows(title="x", other=1)


def test_the_ownership_doors_send_what_the_orm_builds(user):
    values = {"user_id": user.pk, "conversation_id": uuid.uuid4()}
    for compiled, build in (
        (access.OWNED_CONVERSATION_IDS, access.owned_conversation_ids_query),
        (access.CONVERSATIONS_WITH_TAG_NAMES, access.conversations_with_tag_names_query),
    ):
        sql, params = build(**values).query.sql_with_params()
        assert compiled.sql_with_params(**values) == (sql, list(params))


def test_the_conversation_with_tag_names_is_the_orms_instance(user, other_user):
    conversation = services.create_conversation(user=user, title="tagged", tags=["b", "a"])

    compiled = access.conversation_with_tag_names_for(user=user, conversation_id=conversation.id)

    orm = access.conversation_for(
        user=user, conversation_id=conversation.id, within=Conversation.objects.with_tag_names()
    )
    columns = [field.attname for field in Conversation._meta.concrete_fields]
    assert [getattr(compiled, c) for c in columns] == [getattr(orm, c) for c in columns]
    assert compiled.tag_list == orm.tag_list == ["a", "b"]
    for who, conversation_id in (
        (other_user, conversation.id),
        (user, uuid.uuid4()),
        (user, "not-a-uuid"),
    ):
        with pytest.raises(Conversation.DoesNotExist):
            access.conversation_with_tag_names_for(user=who, conversation_id=conversation_id)
        with pytest.raises(Conversation.DoesNotExist):
            access.owned_conversation_id(user=who, conversation_id=conversation_id)
    services.trash_conversation(user=user, conversation_id=conversation.id)
    with pytest.raises(Conversation.DoesNotExist):
        access.conversation_with_tag_names_for(user=user, conversation_id=conversation.id)
