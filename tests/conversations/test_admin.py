import pytest
from django.db import connection
from django.urls import reverse

from conversations import services
from conversations.models import Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_conversation(user):
    conversation = services.create_conversation(user=user, title="Very long")
    with connection.cursor() as cursor:  # one statement: 50,000 ORM objects take seconds
        cursor.execute(
            "INSERT INTO conversations_message"
            " (id, conversation_id, owner_id, seq, role, content, attachments, metadata,"
            " created_at, depth) SELECT gen_random_uuid(), %s, %s, g, 'user',"
            " 'message number ' || g, '[]', '{}', now(), 1"
            " FROM generate_series(1, 50000) AS g",
            [conversation.id, user.id],
        )
    conversation.message_count = 50_000
    conversation.save(update_fields=["message_count"])
    return conversation


def test_admin_change_page_shows_a_bounded_read_only_slice(
    admin_client, long_conversation, django_assert_max_num_queries
):
    url = reverse("admin:conversations_conversation_change", args=[long_conversation.pk])
    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "message number 50000" in body
    assert "message number 49951" in body
    assert "message number 49950<" not in body
    assert "All 50000 messages" in body


def test_admin_message_list_is_paginated(admin_client, long_conversation):
    url = reverse("admin:conversations_message_changelist")
    response = admin_client.get(url, {"conversation__id__exact": str(long_conversation.pk)})
    assert response.status_code == 200
    assert response.content.decode().count("message number ") == 100


def test_admin_searches_conversations_by_title_and_owner(admin_client, user):
    services.create_conversation(user=user, title="Findable title")
    url = reverse("admin:conversations_conversation_changelist")
    assert "Findable title" in admin_client.get(url, {"q": "findable"}).content.decode()
    assert "Findable title" in admin_client.get(url, {"q": user.username}).content.decode()


def test_admin_cannot_edit_messages(admin_client, long_conversation):
    message = long_conversation.messages.get(seq=1)
    url = reverse("admin:conversations_message_change", args=[message.pk])
    admin_client.post(url, {"content": "rewritten"})
    message.refresh_from_db()
    assert message.content == "message number 1"


# --- admin writes go through the services ----------------------------------------------

SYNC = "/api/v1/sync/"


def _sync(api, since=None) -> dict:
    return api.get(SYNC, {} if since is None else {"since": since}).json()


def _change_form(conversation, **changes) -> dict:
    form = {
        "title": conversation.title,
        "tag_names": ", ".join(conversation.tag_list),
        "is_archived": "on" if conversation.is_archived else "",
        "is_pinned": "on" if conversation.is_pinned else "",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value != ""}


def test_admin_edit_is_seen_by_sync_and_the_cache(admin_client, api, user):
    conversation = services.create_conversation(user=user, title="Before", tags=["old"])
    detail = f"/api/v1/conversations/{conversation.id}/"
    assert api.get(detail).json()["title"] == "Before"  # now cached
    since = _sync(api)["next_since"]
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])

    response = admin_client.post(
        url, _change_form(conversation, title="After", tag_names="new, other", is_pinned="on")
    )

    assert response.status_code == 302
    changed = _sync(api, since)["conversations"]
    assert [(c["id"], c["title"]) for c in changed] == [(str(conversation.id), "After")]
    fresh = api.get(detail).json()
    assert (fresh["title"], fresh["tags"], fresh["is_pinned"]) == ("After", ["new", "other"], True)


def test_admin_cannot_move_a_conversation_to_another_owner(admin_client, user, other_user):
    conversation = services.create_conversation(user=user, title="Mine")
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])

    admin_client.post(url, {**_change_form(conversation), "owner": str(other_user.pk)})

    conversation.refresh_from_db()
    assert conversation.owner == user


def test_admin_title_over_the_limit_is_a_form_error_not_a_500(admin_client, user, settings):
    conversation = services.create_conversation(user=user, title="Fine")
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])

    response = admin_client.post(
        url, _change_form(conversation, title="x" * (settings.NUMINA_TITLE_MAX_LENGTH + 1))
    )

    assert response.status_code == 200
    assert b"no more than" in response.content
    conversation.refresh_from_db()
    assert conversation.title == "Fine"


def test_admin_delete_is_reported_by_sync(admin_client, api, user):
    conversation = services.create_conversation(user=user, title="Doomed")
    since = _sync(api)["next_since"]
    url = reverse("admin:conversations_conversation_delete", args=[conversation.pk])

    assert admin_client.post(url, {"post": "yes"}).status_code == 302

    assert _sync(api, since)["deleted"] == [str(conversation.id)]
    assert api.get(f"/api/v1/conversations/{conversation.id}/").status_code == 404


def test_admin_bulk_delete_selected_is_reported_by_sync(admin_client, api, user):
    doomed = [services.create_conversation(user=user, title=f"Doomed {n}") for n in range(3)]
    assert len(api.get("/api/v1/conversations/").json()["results"]) == 3  # now cached
    since = _sync(api)["next_since"]

    response = admin_client.post(
        reverse("admin:conversations_conversation_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(c.pk) for c in doomed],
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert sorted(_sync(api, since)["deleted"]) == sorted(str(c.id) for c in doomed)
    assert api.get("/api/v1/conversations/").json()["results"] == []


def test_admin_tag_rename_and_delete_change_the_tagged_conversations(admin_client, api, user):
    conversation = services.create_conversation(user=user, title="Tagged", tags=["work"])
    detail = f"/api/v1/conversations/{conversation.id}/"
    assert api.get(detail).json()["tags"] == ["work"]  # now cached
    tag = Tag.objects.get(owner=user, name="work")
    since = _sync(api)["next_since"]

    admin_client.post(reverse("admin:conversations_tag_change", args=[tag.pk]), {"name": "job"})

    body = _sync(api, since)
    assert [c["tags"] for c in body["conversations"]] == [["job"]]
    assert api.get(detail).json()["tags"] == ["job"]

    admin_client.post(reverse("admin:conversations_tag_delete", args=[tag.pk]), {"post": "yes"})

    assert [c["tags"] for c in _sync(api, body["next_since"])["conversations"]] == [[]]
    assert api.get(detail).json()["tags"] == []


def test_admin_tag_rename_to_a_name_the_owner_has_is_a_form_error(admin_client, user):
    services.create_conversation(user=user, tags=["a", "b"])
    tag = Tag.objects.get(owner=user, name="a")

    response = admin_client.post(
        reverse("admin:conversations_tag_change", args=[tag.pk]), {"name": "b"}
    )

    assert response.status_code == 200
    tag.refresh_from_db()
    assert tag.name == "a"
