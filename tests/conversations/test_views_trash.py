"""The browser's trash: /trash/ with Restore and Delete forever (plain forms and htmx),
the sidebar's Trash link and its Delete wording."""

import uuid

import pytest
from django.urls import reverse

from conversations import services
from conversations.models import Conversation, DeletedConversation
from tests.conversations.test_views import HTMX, html, make_chat

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def trashed(user, title, messages=("hi",)) -> Conversation:
    conversation = make_chat(user, title, messages)
    services.trash_conversation(user=user, conversation_id=conversation.id)
    return conversation


def test_the_sidebar_links_the_trash_and_says_a_delete_can_be_restored(browser, user):
    chat = make_chat(user, "mine")
    page = html(browser.get(reverse("chat", args=[chat.id])))
    assert f'href="{reverse("trash")}"' in page
    assert ">Trash</a>" in page
    assert "It moves to the trash, where you can restore it." in page
    assert "cannot be undone" not in page


def test_the_delete_confirmation_page_says_it_goes_to_the_trash(browser, user, settings):
    settings.NUMINA_TRASH_DAYS = 30
    chat = make_chat(user, "mine", ["a", "b"])
    page = html(browser.get(reverse("delete", args=[chat.id])))
    assert "move to the trash" in page
    assert "for 30 days" in page
    assert "deleted for good." in page  # only after the trash days


def test_the_trash_page_lists_trashed_chats_newest_first_with_their_buttons(browser, user):
    older, newer = trashed(user, "zebra chat"), trashed(user, "newer <b>")
    live = make_chat(user, "still here")
    response = browser.get(reverse("trash"))
    assert response.status_code == 200
    page = html(response)
    assert page.index("newer &lt;b&gt;") < page.index("zebra chat")
    assert page.count(">Restore</button>") == 2
    assert page.count(">Delete forever</button>") == 2
    assert reverse("trash_restore", args=[older.id]) in page
    assert reverse("trash_delete", args=[newer.id]) in page
    # The trash page's own list; the sidebar still shows the live chat, not the trashed.
    assert f'id="chat-{live.id}"' in page
    assert f'id="chat-{older.id}"' not in page
    assert 'aria-current="page">Trash</a>' in page


def test_an_empty_trash_says_so(browser):
    assert "The trash is empty." in html(browser.get(reverse("trash")))


def test_the_trash_page_pages_and_ignores_a_garbled_cursor(browser, user, settings):
    settings.NUMINA_PAGE_SIZE = 2
    chats = [trashed(user, f"chat {n}") for n in range(3)]
    first = html(browser.get(reverse("trash")))
    assert "chat 2" in first
    assert "chat 1" in first
    assert "chat 0" not in first
    assert "Older deleted chats" in first
    cursor = first.split("?cursor=")[1].split('"')[0]
    second = html(browser.get(reverse("trash") + f"?cursor={cursor}"))
    assert "chat 0" in second
    assert "chat 1" not in second
    assert "Older deleted chats" not in second
    assert "chat 2" in html(browser.get(reverse("trash") + "?cursor=%%%garbage"))
    assert len(chats) == 3


def test_restore_without_javascript_goes_back_to_the_trash_with_a_notice(browser, user):
    chat = trashed(user, "back again")
    response = browser.post(reverse("trash_restore", args=[chat.id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("trash")
    assert Conversation.objects.get(id=chat.id).trashed_at is None
    page = html(browser.get(reverse("trash")))
    assert "“back again” is back in your chats." in page
    assert browser.get(reverse("chat", args=[chat.id])).status_code == 200


def test_restore_with_htmx_removes_the_row_and_reloads_the_sidebar(browser, user):
    chat = trashed(user, "back again")
    response = browser.post(reverse("trash_restore", args=[chat.id]), **HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert response["HX-Trigger"] == "conversationsChanged"
    assert Conversation.objects.get(id=chat.id).trashed_at is None


def test_delete_forever_asks_first_without_javascript_then_deletes(browser, user):
    chat = trashed(user, "doomed", ["a", "b"])
    page = html(browser.get(reverse("trash_delete", args=[chat.id])))
    assert "Delete “doomed” forever?" in page
    assert "This cannot be undone." in page
    assert Conversation.objects.filter(id=chat.id).exists()
    response = browser.post(reverse("trash_delete", args=[chat.id]))
    assert response["Location"] == reverse("trash")
    assert not Conversation.objects.filter(id=chat.id).exists()
    assert DeletedConversation.objects.filter(conversation_id=chat.id).exists()
    assert "“doomed” was deleted for good." in html(browser.get(reverse("trash")))


def test_delete_forever_with_htmx_removes_the_row(browser, user):
    chat = trashed(user, "doomed")
    response = browser.post(reverse("trash_delete", args=[chat.id]), **HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "conversationsChanged"
    assert not Conversation.objects.filter(id=chat.id).exists()


@pytest.mark.parametrize("name", ["trash_restore", "trash_delete"])
def test_a_live_chat_another_users_or_an_unknown_id_is_404_and_nothing_changes(
    browser, user, other_user, name
):
    live = make_chat(user, "live")
    theirs = trashed(other_user, "theirs")
    for conversation_id in (live.id, theirs.id, uuid.uuid4()):
        assert browser.post(reverse(name, args=[conversation_id])).status_code == 404
    if name == "trash_delete":
        assert browser.get(reverse(name, args=[theirs.id])).status_code == 404
    assert Conversation.objects.get(id=live.id).trashed_at is None
    assert Conversation.objects.get(id=theirs.id).trashed_at is not None
    assert "theirs" not in html(browser.get(reverse("trash")))


def test_restore_is_post_only(browser, user):
    chat = trashed(user, "t")
    assert browser.get(reverse("trash_restore", args=[chat.id])).status_code == 405
    assert Conversation.objects.get(id=chat.id).trashed_at is not None


def test_a_trashed_chat_is_a_404_on_every_chat_page(browser, user):
    chat = trashed(user, "gone")
    message = chat.current_message_id
    for url in (
        reverse("chat", args=[chat.id]),
        reverse("rename", args=[chat.id]),
        reverse("delete", args=[chat.id]),
        reverse("export", args=[chat.id]),
        reverse("chat_item", args=[chat.id]),
        reverse("message", args=[chat.id, message]),
    ):
        assert browser.get(url).status_code == 404, url
    for url in (
        reverse("archive", args=[chat.id]),
        reverse("delete", args=[chat.id]),
        reverse("send", args=[chat.id]),
    ):
        assert browser.post(url, {"content": "hi"}).status_code == 404, url
    assert Conversation.objects.get(id=chat.id).trashed_at is not None


def test_the_trash_needs_a_login(client):
    response = client.get(reverse("trash"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_the_trash_page_runs_a_fixed_number_of_queries(
    browser, user, django_assert_max_num_queries
):
    for n in range(2):
        trashed(user, f"a{n}")
    with django_assert_max_num_queries(20) as few:
        browser.get(reverse("trash"))
    for n in range(15):
        trashed(user, f"b{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        browser.get(reverse("trash"))
