"""The hot reads (retrieve, list) shape their answers as plain dicts, not through DRF's
serializers (conversations/api/views.py, issue 12): the bytes they send are held here to
the bytes the serializers — which the OpenAPI schema documents — would have sent."""

import uuid

import pytest
from rest_framework.renderers import JSONRenderer

from conversations import selectors, services
from conversations.api import serializers as s

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"


def _rich_conversation(user):
    """Every kind of value the answers carry: tags, a client id, null and set parents,
    siblings (an edit), attachments, nested metadata, non-ASCII text."""
    conversation = services.create_conversation(
        user=user, title="Ünïcode “title”", tags=["zeta", "alpha"], client_id=uuid.uuid4()
    )
    services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="first <b>&</b> ✓",
        attachments=["https://example.com/a.png", "opaque-id"],
        metadata={"nested": {"list": [1, 2.5, None, True]}, "ключ": "значение"},
        client_id=uuid.uuid4(),
    )
    services.add_message(user=user, conversation_id=conversation.id, role="assistant", content="r")
    edited = services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="first, edited",
        parent_id=services.NO_PARENT,
    )
    services.add_message(user=user, conversation_id=conversation.id, role="assistant", content="s")
    # Two versions of a reply too (siblings under a parent, not only first messages): the
    # newer one is the current branch's leaf.
    services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="assistant",
        content="s, regenerated",
        parent_id=edited.message.id,
    )
    return conversation


def _serialized_detail(user, conversation_id, messages=None) -> bytes:
    def shape(conversation):
        return s.ConversationDetailSerializer(conversation).data

    read = selectors.conversation_with_recent_messages(
        user=user, conversation_id=conversation_id, messages=messages, shape=shape
    )
    return JSONRenderer().render(read.value)


@pytest.mark.parametrize("cache_state", ["miss", "hit"])
def test_retrieve_sends_the_bytes_the_detail_serializer_would(api, user, settings, cache_state):
    conversation = _rich_conversation(user)
    if cache_state == "hit":
        api.get(f"/api/v1/conversations/{conversation.id}/")
    expected = _serialized_detail(user, conversation.id, messages=settings.NUMINA_RETRIEVE_MESSAGES)

    response = api.get(f"/api/v1/conversations/{conversation.id}/")

    assert response["X-Cache"] == cache_state
    assert response.content == expected


def test_retrieve_with_a_window_sends_the_serializers_bytes(api, user):
    conversation = _rich_conversation(user)

    response = api.get(f"/api/v1/conversations/{conversation.id}/?messages=2")

    assert response.content == _serialized_detail(user, conversation.id, messages=2)


@pytest.mark.parametrize("cache_state", ["miss", "hit"])
def test_list_sends_the_bytes_the_conversation_serializer_would(api, user, settings, cache_state):
    settings.NUMINA_PAGE_SIZE = 2
    _rich_conversation(user)
    services.create_conversation(user=user)  # no title, no tags, no client id
    services.create_conversation(user=user, title="third")
    if cache_state == "hit":
        api.get(LIST)

    response = api.get(LIST)

    body = response.json()
    page = list(selectors.list_conversations(user=user)[:2])
    expected = JSONRenderer().render(
        {
            "next": body["next"],
            "previous": None,
            "results": s.ConversationSerializer(page, many=True).data,
        }
    )
    assert response["X-Cache"] == cache_state
    assert body["next"] is not None
    assert response.content == expected


@pytest.mark.parametrize("thread", ["all", "current"])
def test_message_page_sends_the_bytes_the_message_serializer_would(api, user, thread):
    # The page's sibling_ids come from its own query (branches.answer_rows); the
    # serializer's from attach_sibling_ids over model instances: the same ids, in order.
    conversation = _rich_conversation(user)

    response = api.get(f"/api/v1/conversations/{conversation.id}/messages/", {"thread": thread})

    body = response.json()
    messages = list(
        selectors.list_messages(user=user, conversation_id=conversation.id, thread=thread)
    )
    selectors.attach_sibling_ids(messages=messages)
    expected = JSONRenderer().render(
        {
            "next": None,
            "previous": None,
            "results": s.MessageSerializer(messages, many=True).data,
        }
    )
    assert [len(message["sibling_ids"]) for message in body["results"]] == (
        [2, 1, 2, 2, 2] if thread == "all" else [2, 2]
    )
    assert response.content == expected


def test_search_page_sends_the_bytes_the_search_serializer_would(api, user):
    # Read as values() rows with the title's subquery (selectors.search_answer_rows); the
    # serializer's over the model instances of search_messages and their conversations.
    # The snippets carry the escaped HTML and the marks; one chat has no title.
    conversation = _rich_conversation(user)
    untitled = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=untitled.id, role="user", content="first")

    response = api.get("/api/v1/search/", {"q": "first"})

    body = response.json()
    page = list(selectors.search_messages(user=user, query="first").order_by("-rank", "-id"))
    expected = JSONRenderer().render(
        {
            "next": None,
            "previous": None,
            "results": s.SearchResultSerializer(page, many=True).data,
        }
    )
    assert sorted(result["conversation_title"] for result in body["results"]) == sorted(
        [conversation.title, conversation.title, ""]
    )
    assert response.content == expected
