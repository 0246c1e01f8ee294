"""Hostile and malformed request input answers 400 (or, in the browser UI, is ignored),
never a 500, and stores nothing: cursors, deeply nested JSON, numbers jsonb cannot hold,
lone surrogates, and digits that are not ASCII."""

import base64
import json

import pytest
from django.urls import reverse

from conversations import services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/conversations/import/"


@pytest.fixture
def conversation(user):
    conversation = services.create_conversation(user=user, title="heron notes")
    for content in ("the grey heron", "a heron again", "herons nest"):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=content
        )
    return conversation


def cursor_of(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


def list_urls(conversation) -> dict[str, str]:
    # Every cursor-paginated endpoint of the API.
    return {
        "conversations": "/api/v1/conversations/?",
        "messages": f"/api/v1/conversations/{conversation.id}/messages/?",
        "search": "/api/v1/search/?q=heron&",
    }


NOT_POSITIONS = ["abc", "1e400", "nan", "-inf", "²", "", "2026-13-45"]


@pytest.mark.parametrize(
    ("endpoint", "position"),
    [
        *[
            (endpoint, p)
            for endpoint in ("conversations", "messages", "search")
            for p in NOT_POSITIONS
        ],
        # A seq is a PostgreSQL integer (a rank is a float, for which this is a position).
        ("messages", "99999999999999999999"),
        ("messages", "-1"),
    ],
)
def test_cursor_whose_position_is_not_a_number_is_a_400(api, conversation, endpoint, position):
    url = list_urls(conversation)[endpoint] + f"cursor={cursor_of(f'p={position}')}"
    response = api.get(url)
    assert response.status_code == 400, response.content
    assert response.json() == {"cursor": ["Invalid cursor."]}


def test_cursor_of_the_issue_is_a_400_on_messages_and_search(api, conversation):
    assert cursor_of("p=abc") == "cD1hYmM="
    for url in (list_urls(conversation)["messages"], list_urls(conversation)["search"]):
        assert api.get(url + "cursor=cD1hYmM=").status_code == 400


@pytest.mark.parametrize("endpoint", ["conversations", "messages", "search"])
def test_cursors_the_server_made_still_walk_every_page(api, user, conversation, endpoint):
    services.create_conversation(user=user, title="heron two")
    services.create_conversation(user=user, title="heron three")
    url = list_urls(conversation)[endpoint] + "page_size=1"
    seen = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        seen += [row.get("message_id") or row["id"] for row in response.json()["results"]]
        url = response.json()["next"]
    assert len(seen) == len(set(seen)) == 3


def nested_metadata_body(depth: int) -> str:
    # Built as text: json.dumps itself recurses and could not write the deeper ones.
    return (
        '{"role": "user", "content": "hi", "metadata": '
        + '{"a": ' * depth
        + "1"
        + "}" * depth
        + "}"
    )


def post_message_with_metadata(api, conversation, metadata: str):
    """POSTs a message whose metadata is the given JSON text (which json.dumps could not write)."""
    return api.post(
        f"/api/v1/conversations/{conversation.id}/messages/",
        f'{{"role": "user", "content": "hi", "metadata": {metadata}}}',
        content_type="application/json",
    )


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_body_nested_past_the_parsers_recursion_is_a_400(api, conversation, depth):
    url = f"/api/v1/conversations/{conversation.id}/messages/"
    for body in (nested_metadata_body(depth), "[" * depth + "]" * depth):
        response = api.post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert response.json() == {
            "detail": "JSON parse error - nested too deeply.",
            "code": "json_too_deep",
        }
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_metadata_nested_350_deep_is_a_400_not_a_recursion(api, conversation):
    response = post_message_with_metadata(api, conversation, '{"a": ' * 349 + "{}" + "}" * 349)
    assert response.status_code == 400, response.content
    assert response.json() == {
        "metadata": ["Ensure this object is nested no more than 32 levels deep."]
    }
    assert Message.objects.filter(conversation=conversation).count() == 3


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E999"])
def test_metadata_holding_an_infinite_number_is_a_400(api, conversation, number):
    response = post_message_with_metadata(api, conversation, f'{{"n": [1, {number}]}}')
    assert response.status_code == 400, response.content
    assert response.json() == {"metadata": ["Numbers must be finite."]}
    assert Message.objects.filter(conversation=conversation).count() == 3


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_metadata_holding_nan_or_infinity_literals_is_a_400(api, conversation, literal):
    response = post_message_with_metadata(api, conversation, f'{{"n": {literal}}}')
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize("metadata", ['{"k": "x\\ud800"}', '{"\\udfff": 1}', '{"k": ["\\u0000"]}'])
def test_metadata_holding_what_jsonb_cannot_store_is_a_400(api, conversation, metadata):
    response = post_message_with_metadata(api, conversation, metadata)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["metadata"]
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_import_with_an_infinite_number_in_metadata_is_a_400(api, user):
    document = {
        "format": "numina.conversation",
        "version": 1,
        "conversation": {"title": "imported"},
        "messages": [{"role": "user", "content": "hi", "metadata": {"n": "INF"}}],
    }
    body = json.dumps(document).replace('"INF"', "1e400")
    response = api.post(IMPORT, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Conversation.objects.filter(owner=user, title="imported").exists()


@pytest.mark.parametrize(
    "position", ["v1:٣", "v1:²", "v1:99999999999999999999", "v1:" + "9" * 5000, "v1:-1"]
)
def test_sync_token_that_is_no_change_number_is_a_400(api, position):
    token = base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")
    response = api.get("/api/v1/sync/", {"since": token})
    assert response.status_code == 400
    assert "since" in response.json()


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("before", ["²", "٣", "99999999999999999999", "9" * 5000, "-1", ""])
def test_ui_before_that_is_no_seq_shows_the_newest_messages(browser, conversation, before):
    response = browser.get(reverse("chat", args=[conversation.id]), {"before": before})
    assert response.status_code == 200
    assert "herons nest" in response.content.decode()
