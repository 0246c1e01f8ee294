"""The browser's memory page: /memory/ with Edit memory, Delete memory, the add field and
the Use memory switch (plain forms and htmx), the sidebar's Memory link, the chat page's
note, and another user's item as a 404."""

import uuid

import pytest
from django.urls import reverse

from accounts.models import User
from memory import services
from memory.models import MemoryItem
from tests.conversations.test_views import HTMX, html, make_chat

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_the_page_lists_the_items_with_their_actions_and_the_switch(browser, user):
    services.create_item(user=user, kind="name", content="Ada")
    page = html(browser.get(reverse("memory")))
    assert "<h1" in page
    assert ">Ada</strong>" in page
    assert ">Edit memory</button>" in page
    assert ">Delete memory</button>" in page
    assert "Use memory" in page
    assert 'name="memory_enabled" value="on" checked' in page
    assert 'href="/memory/" aria-current="page">Memory</a>' in page


def test_the_page_runs_a_fixed_number_of_queries(browser, user, django_assert_max_num_queries):
    for n in range(3):
        services.create_item(user=user, kind="fact", content=f"f{n}")
    with django_assert_max_num_queries(12) as few:
        browser.get(reverse("memory"))
    for n in range(20):
        services.create_item(user=user, kind="fact", content=f"g{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        browser.get(reverse("memory"))


def test_the_page_is_paged_newest_first(browser, user, settings):
    settings.NUMINA_PAGE_SIZE = 2
    for n in range(3):
        services.create_item(user=user, kind="fact", content=f"item {n}")
    first = html(browser.get(reverse("memory")))
    assert "item 2" in first
    assert "item 0" not in first
    assert "Older memories" in first


def test_adding_with_the_plain_form_redirects_back(browser, user):
    response = browser.post(reverse("memory_add"), {"kind": "interest", "content": "sailing"})
    assert response.status_code == 302
    assert MemoryItem.objects.get(owner=user).content == "sailing"


def test_adding_with_htmx_answers_the_new_row(browser, user):
    response = browser.post(reverse("memory_add"), {"kind": "fact", "content": "two cats"}, **HTMX)
    assert response.status_code == 200
    assert "two cats" in html(response)
    assert "<li" in html(response)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "fact", "content": "  "},
        {"kind": "fact", "content": "x" * 501},
        {"kind": "nope", "content": "a"},
    ],
)
def test_bad_adds_are_400_with_the_error_and_store_nothing(browser, data):
    response = browser.post(reverse("memory_add"), data)
    assert response.status_code == 400
    assert 'role="alert"' in html(response)
    assert not MemoryItem.objects.exists()


def test_adding_past_the_maximum_is_400(browser, user, settings):
    settings.NUMINA_MEMORY_MAX_ITEMS = 1
    services.create_item(user=user, kind="fact", content="one")
    response = browser.post(reverse("memory_add"), {"kind": "fact", "content": "two"}, **HTMX)
    assert response.status_code == 400
    assert "At most 1 memory items." in html(response)


def test_edit_shows_a_form_and_saves(browser, user):
    item = services.create_item(user=user, kind="fact", content="old")
    assert 'value="old"' in html(browser.get(reverse("memory_edit", args=[item.id])))
    inline = browser.get(reverse("memory_edit", args=[item.id]), **HTMX)
    assert "<html" not in html(inline)

    response = browser.post(
        reverse("memory_edit", args=[item.id]), {"kind": "role", "content": "new"}, **HTMX
    )

    assert response.status_code == 200
    assert ">new</strong>" in html(response)
    item.refresh_from_db()
    assert (item.kind, item.content) == ("role", "new")


def test_a_bad_edit_is_400_and_changes_nothing(browser, user):
    item = services.create_item(user=user, kind="fact", content="old")
    response = browser.post(reverse("memory_edit", args=[item.id]), {"kind": "fact", "content": ""})
    assert response.status_code == 400
    item.refresh_from_db()
    assert item.content == "old"


def test_delete_plain_and_htmx(browser, user):
    first = services.create_item(user=user, kind="fact", content="a")
    second = services.create_item(user=user, kind="fact", content="b")
    assert browser.post(reverse("memory_delete", args=[first.id])).status_code == 302
    response = browser.post(reverse("memory_delete", args=[second.id]), **HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert not MemoryItem.objects.exists()


def test_the_switch_turns_memory_off_and_on(browser, user):
    browser.post(reverse("memory_switch"), {}, **HTMX)
    assert User.objects.get(pk=user.pk).memory_enabled is False
    response = browser.post(reverse("memory_switch"), {"memory_enabled": "on"})
    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).memory_enabled is True


@pytest.mark.parametrize(
    ("name", "method"), [("memory_edit", "get"), ("memory_edit", "post"), ("memory_delete", "post")]
)
def test_another_users_item_is_a_404_and_unchanged(browser, other_user, name, method):
    theirs = services.create_item(user=other_user, kind="name", content="Eve")
    response = getattr(browser, method)(
        reverse(name, args=[theirs.id]), {"kind": "fact", "content": "mine"}
    )
    missing = getattr(browser, method)(
        reverse(name, args=[uuid.uuid4()]), {"kind": "fact", "content": "mine"}
    )
    assert response.status_code == missing.status_code == 404
    assert MemoryItem.objects.get(id=theirs.id).content == "Eve"


def test_the_pages_need_a_sign_in(client):
    assert client.get(reverse("memory")).status_code == 302
    assert client.post(reverse("memory_add"), {"kind": "fact", "content": "x"}).status_code == 302
    assert not MemoryItem.objects.exists()


def test_the_chat_page_notes_that_memory_learnt_from_it(browser, user):
    chat = make_chat(user, "mine", ["hello"])
    assert "Memory updated" not in html(browser.get(reverse("chat", args=[chat.id])))
    MemoryItem.objects.create(
        owner=user, kind="name", subject="name", content="Ada", source_conversation=chat
    )
    assert "Memory updated from this chat" in html(browser.get(reverse("chat", args=[chat.id])))
