"""The memory endpoints of API.md: list, add, edit, delete, the switch, and every bad input."""

import uuid

import pytest

from accounts.models import User
from conversations import services as conversation_services
from memory import services
from memory.models import MemoryItem

pytestmark = pytest.mark.django_db

ITEM_FIELDS = {"id", "kind", "content", "source_conversation_id", "created_at", "updated_at"}


def add(api, kind="fact", content="Has two cats"):
    return api.post("/api/v1/memory/", {"kind": kind, "content": content}, format="json")


def test_an_added_item_is_the_users_own_and_listed(api, user):
    response = add(api, "preference", "  Metric units  ")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == ITEM_FIELDS
    assert (body["kind"], body["content"], body["source_conversation_id"]) == (
        "preference",
        "Metric units",
        None,
    )
    item = MemoryItem.objects.get(id=body["id"])
    assert item.owner == user
    assert item.user_written is True
    listed = api.get("/api/v1/memory/").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "fact", "content": ""}, "content"),
        ({"kind": "fact", "content": " \t\n "}, "content"),
        ({"kind": "fact", "content": "x" * 501}, "content"),
        ({"kind": "shoe size", "content": "44"}, "kind"),
        ({"kind": "fact"}, "content"),
        ({"content": "no kind"}, "kind"),
        ({"kind": ["fact"], "content": "a list"}, "kind"),
        ({"kind": "fact", "content": 5}, "content"),
    ],
)
def test_bad_items_are_400_and_store_nothing(api, body, field):
    response = api.post("/api/v1/memory/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not MemoryItem.objects.exists()


def test_content_of_exactly_500_characters_is_kept(api):
    assert add(api, content="x" * 500).status_code == 201


def test_more_than_the_maximum_number_of_items_is_400(api, user, settings):
    settings.NUMINA_MEMORY_MAX_ITEMS = 3
    for n in range(3):
        assert add(api, content=f"fact {n}").status_code == 201

    response = add(api, content="one too many")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert MemoryItem.objects.filter(owner=user).count() == 3


def test_the_maximum_is_per_user(api, user, other_user, settings):
    settings.NUMINA_MEMORY_MAX_ITEMS = 1
    services.create_item(user=other_user, kind="fact", content="theirs")

    assert add(api).status_code == 201


def test_edit_changes_kind_and_content_and_makes_the_item_the_users(api, user):
    conversation = conversation_services.create_conversation(user=user)
    item = MemoryItem.objects.create(
        owner=user,
        kind="fact",
        subject="cats",
        content="Has a cat",
        source_conversation=conversation,
    )

    response = api.patch(
        f"/api/v1/memory/{item.id}/", {"kind": "interest", "content": "Cats"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["kind"], response.json()["content"]) == ("interest", "Cats")
    item.refresh_from_db()
    assert item.user_written is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   "}, "content"),
        ({"content": "y" * 501}, "content"),
        ({"kind": "nickname"}, "kind"),
    ],
)
def test_bad_edits_are_400_and_change_nothing(api, user, body, field):
    item = services.create_item(user=user, kind="fact", content="unchanged")

    response = api.patch(f"/api/v1/memory/{item.id}/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    item.refresh_from_db()
    assert (item.kind, item.content) == ("fact", "unchanged")


def test_delete_is_204_and_the_item_is_gone(api, user):
    item = services.create_item(user=user, kind="name", content="Ada")

    assert api.delete(f"/api/v1/memory/{item.id}/").status_code == 204
    assert not MemoryItem.objects.filter(id=item.id).exists()
    assert api.delete(f"/api/v1/memory/{item.id}/").status_code == 404


def test_every_write_raises_the_memory_revision(user):
    def revision() -> int:
        return User.objects.get(pk=user.pk).memory_revision

    item = services.create_item(user=user, kind="fact", content="a")
    after_create = revision()
    services.update_item(user=user, item_id=item.id, content="b")
    after_update = revision()
    services.delete_item(user=user, item_id=item.id)
    after_delete = revision()
    services.set_memory_enabled(user=user, enabled=False)

    assert 0 < after_create < after_update < after_delete < revision()


def test_the_list_is_keyset_paged_newest_first_in_fixed_queries(
    api, user, django_assert_max_num_queries
):
    ids = [str(services.create_item(user=user, kind="fact", content=f"f{n}").id) for n in range(5)]
    seen = []
    url = "/api/v1/memory/?page_size=2"
    while url:
        with django_assert_max_num_queries(3):  # the token with its user, the page
            page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert seen == list(reversed(ids))


@pytest.mark.parametrize("query", ["cursor=garbage", "page_size=0", "page_size=abc"])
def test_a_bad_page_query_is_400_or_clamped(api, query):
    response = api.get(f"/api/v1/memory/?{query}")
    assert response.status_code in (200, 400)
    if query.startswith("cursor"):
        assert response.status_code == 400


def test_settings_read_and_switch_memory(api, user):
    assert api.get("/api/v1/me/settings/").json() == {"memory_enabled": True}

    response = api.patch("/api/v1/me/settings/", {"memory_enabled": False}, format="json")

    assert response.status_code == 200
    assert response.json() == {"memory_enabled": False}
    assert User.objects.get(pk=user.pk).memory_enabled is False


@pytest.mark.parametrize("body", [{}, {"memory_enabled": "maybe"}, {"memory_enabled": None}])
def test_bad_settings_are_400(api, user, body):
    assert api.patch("/api/v1/me/settings/", body, format="json").status_code == 400
    assert User.objects.get(pk=user.pk).memory_enabled is True


def test_another_users_items_are_not_listed(api, other_user):
    services.create_item(user=other_user, kind="name", content="Eve")

    assert api.get("/api/v1/memory/").json()["results"] == []


def test_a_random_item_id_is_404(api):
    assert (
        api.patch(f"/api/v1/memory/{uuid.uuid4()}/", {"content": "x"}, format="json").status_code
        == 404
    )


def test_an_empty_edit_confirms_a_learnt_item_so_extraction_leaves_it(api, user):
    item = MemoryItem.objects.create(owner=user, kind="name", subject="name", content="Ada")

    response = api.patch(f"/api/v1/memory/{item.id}/", {}, format="json")

    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.user_written, item.content) == (True, "Ada")
