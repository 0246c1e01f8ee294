import json
import uuid

import pytest

from conversations import services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/conversations/import/"


def export_url(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/export/"


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def conversation(user):
    conversation = services.create_conversation(user=user, title="Trip", tags=["travel", "japan"])
    for n, role in enumerate(["user", "assistant", "user", "assistant"]):
        services.add_message(
            user=user,
            conversation_id=conversation.id,
            role=role,
            content=f"turn {n} <b>bold</b>",
            metadata={"n": n},
        )
    Conversation.objects.filter(id=conversation.id).update(
        summary="We planned Kyoto.", summary_covers_seq=2
    )
    return conversation


def test_export_json_is_a_download_with_every_message(api, conversation):
    response = api.get(export_url(conversation.id))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert (
        response["Content-Disposition"] == f'attachment; filename="numina-{conversation.id}.json"'
    )
    document = json.loads(body_of(response))
    assert document["format"] == "numina.conversation"
    assert document["version"] == 1
    assert document["conversation"]["title"] == "Trip"
    assert document["conversation"]["tags"] == ["japan", "travel"]
    assert [m["seq"] for m in document["messages"]] == [1, 2, 3, 4]
    assert document["messages"][0]["metadata"] == {"n": 0}


def test_export_markdown_is_a_download(api, conversation):
    response = api.get(export_url(conversation.id), {"format": "markdown"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"].endswith('.md"')
    text = body_of(response).decode()
    assert text.startswith("# Trip\n")
    assert "We planned Kyoto." in text
    assert text.count("### User") == 2
    assert text.count("### Assistant") == 2


def test_export_refuses_an_unknown_format(api, conversation):
    assert api.get(export_url(conversation.id), {"format": "pdf"}).status_code == 400


def test_export_query_count_does_not_grow_with_messages(
    api, user, conversation, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5):
        body_of(api.get(export_url(conversation.id)))
    for n in range(100):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"more {n}"
        )
    with django_assert_max_num_queries(5):
        body_of(api.get(export_url(conversation.id)))


def test_import_of_an_export_makes_a_new_equal_conversation(api, user, conversation):
    document = json.loads(body_of(api.get(export_url(conversation.id))))
    response = api.post(IMPORT, document, format="json")
    assert response.status_code == 201
    imported = Conversation.objects.get(id=response.json()["id"])
    assert imported.id != conversation.id
    assert imported.owner == user
    assert (imported.title, imported.summary, imported.summary_covers_seq) == (
        "Trip",
        "We planned Kyoto.",
        2,
    )
    assert sorted(imported.tags.values_list("name", flat=True)) == ["japan", "travel"]
    original = list(
        conversation.messages.values_list("seq", "role", "content", "metadata", "created_at")
    )
    copy = list(imported.messages.values_list("seq", "role", "content", "metadata", "created_at"))
    assert copy == original
    assert imported.message_count == 4


def test_importing_the_same_file_twice_gives_two_conversations_never_mixed(api, user, conversation):
    document = json.loads(body_of(api.get(export_url(conversation.id))))
    first = api.post(IMPORT, document, format="json").json()["id"]
    second = api.post(IMPORT, document, format="json").json()["id"]
    assert first != second
    assert (
        Message.objects.filter(conversation_id=first).count()
        == Message.objects.filter(conversation_id=second).count()
        == 4
    )


def test_import_is_all_or_nothing(api, conversation):
    document = json.loads(body_of(api.get(export_url(conversation.id))))
    document["messages"][2]["content"] = ""
    response = api.post(IMPORT, document, format="json")
    assert response.status_code == 400
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="something.else"),
        lambda d: d.update(version=2),
        lambda d: d.pop("messages"),
        lambda d: d.update(messages="nope"),
        lambda d: d["messages"][0].update(role="robot"),
        lambda d: d["messages"][0].update(content="x" * 100_001),
        lambda d: d["conversation"].update(title="x" * 201),
        lambda d: d["conversation"].update(tags=[f"t{n}" for n in range(21)]),
        lambda d: d["messages"][1].update(client_id=d["messages"][0]["client_id"]),
    ],
)
def test_import_refuses_bad_documents(api, conversation, mutate):
    document = json.loads(body_of(api.get(export_url(conversation.id))))
    for message in document["messages"]:
        message["client_id"] = str(uuid.uuid4())
    mutate(document)
    assert api.post(IMPORT, document, format="json").status_code == 400
    assert Conversation.objects.count() == 1


def test_import_refuses_more_messages_than_the_limit(api, settings, conversation):
    settings.NUMINA_IMPORT_MAX_MESSAGES = 3
    document = json.loads(body_of(api.get(export_url(conversation.id))))
    response = api.post(IMPORT, document, format="json")
    assert response.status_code == 400
    assert "messages" in response.json()


def test_import_over_the_message_limit_is_refused_before_any_message_is_validated(api):
    # 20,000 messages (~600 KB): refused by their count, not after each one is cleaned.
    # Every message is invalid: had any been cleaned, its own error would be in the answer.
    document = {
        "format": "numina.conversation",
        "version": 1,
        "conversation": {"title": "too long"},
        "messages": [{"role": "bogus", "content": "", "metadata": {"n": n}} for n in range(20_000)],
    }
    body = json.dumps(document)
    response = api.generic("POST", IMPORT, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"messages": ["Ensure this field has no more than 10000 elements."]}
    assert not Conversation.objects.exists()


def test_import_refuses_a_summary_over_the_limit(api, settings, conversation):
    document = json.loads(body_of(api.get(export_url(conversation.id))))
    document["conversation"]["summary"] = "s" * (settings.NUMINA_SUMMARY_MAX_CHARS + 1)
    response = api.post(IMPORT, document, format="json")
    assert response.status_code == 400
    assert response.json()["summary"] == [
        f"Ensure this field has no more than {settings.NUMINA_SUMMARY_MAX_CHARS} characters."
    ]
    assert Conversation.objects.count() == 1


def test_import_body_over_the_size_limit_is_a_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.generic(
        "POST", IMPORT, json.dumps({"pad": "x" * 2000}), content_type="application/json"
    )
    assert response.status_code == 400
