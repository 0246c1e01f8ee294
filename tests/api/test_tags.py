"""GET /api/v1/tags/: the user's tags in use with their counts; a tag no chat (outside
the trash) carries any more is gone from it; another user's tags never show."""

import pytest

from conversations import services

pytestmark = pytest.mark.django_db

TAGS = "/api/v1/tags/"


def make(user, tags, **kwargs):
    return services.create_conversation(user=user, title="chat", tags=tags, **kwargs)


def test_tags_are_listed_by_name_with_their_conversation_counts(api, user):
    make(user, ["work", "trip"])
    make(user, ["work"])
    make(user, [])

    response = api.get(TAGS)

    assert response.status_code == 200
    assert response.json() == [
        {"name": "trip", "conversations": 1},
        {"name": "work", "conversations": 2},
    ]


def test_archived_conversations_count_and_trashed_ones_do_not(api, user):
    archived = make(user, ["work"])
    services.archive_conversation(user=user, conversation_id=archived.id)
    trashed = make(user, ["work", "old"])
    services.trash_conversation(user=user, conversation_id=trashed.id)

    assert api.get(TAGS).json() == [{"name": "work", "conversations": 1}]

    services.restore_conversation(user=user, conversation_id=trashed.id)
    assert api.get(TAGS).json() == [
        {"name": "old", "conversations": 1},
        {"name": "work", "conversations": 2},
    ]


def test_a_tag_no_chat_uses_any_more_disappears(api, user):
    chat = make(user, ["work", "trip"])

    services.set_tags(user=user, conversation_id=chat.id, tags=["work"])
    assert api.get(TAGS).json() == [{"name": "work", "conversations": 1}]

    services.remove_tags(user=user, conversation_id=chat.id, tags=["work"])
    assert api.get(TAGS).json() == []


def test_a_conversation_deleted_for_good_takes_its_counts_along(api, user):
    chat = make(user, ["work"])

    services.delete_conversation(user=user, conversation_id=chat.id, permanent=True)

    assert api.get(TAGS).json() == []


def test_another_users_tags_never_appear(api, user, other_user):
    make(other_user, ["secret", "work"])
    make(user, ["work"])

    assert api.get(TAGS).json() == [{"name": "work", "conversations": 1}]


def test_session_clients_read_it_too_and_anonymous_ones_do_not(session_api, anon_api, user):
    make(user, ["work"])

    assert session_api.get(TAGS).json() == [{"name": "work", "conversations": 1}]
    assert anon_api.get(TAGS).status_code == 401


def test_listing_tags_is_a_fixed_number_of_queries(api, user, django_assert_max_num_queries):
    for n in range(30):
        make(user, [f"tag{n}", "common"])

    with django_assert_max_num_queries(3):
        body = api.get(TAGS).json()

    assert len(body) == 31
    assert body[0] == {"name": "common", "conversations": 30}
