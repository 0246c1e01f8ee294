"""The sidebar's organising (issue 18) through Django's test client: each chat's tags and
its Tags field, Filter by tag (keyset pages, a fixed number of queries), Select with
Archive / Delete / Tag selected on a plain, filtered or searched list, with and
without htmx, and search's More results."""

import re
import uuid

import pytest
from django.urls import reverse

from conversations import services
from conversations.models import Conversation, DeletedConversation

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def make_chat(user, title, messages=(), **kwargs) -> Conversation:
    conversation = services.create_conversation(user=user, title=title, **kwargs)
    for content in messages:
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=content
        )
    return conversation


def fresh(conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


def tags_of(conversation) -> list[str]:
    return sorted(fresh(conversation).tags.values_list("name", flat=True))


def html(response) -> str:
    return response.content.decode()


def titles(response) -> list[str]:
    sidebar = response.context["sidebar"]
    page = sidebar["page"]
    if page is None:
        return [c.title for c in sidebar["search"].conversations]
    return [c.title for c in [*page.pinned, *page.conversations]]


# --- tags of a chat --------------------------------------------------------------------


def test_each_chat_in_the_sidebar_shows_its_tags(browser, user):
    make_chat(user, "trip plans", tags=["travel", "2027"])

    page = html(browser.get(reverse("chat_list"), **HTMX))

    assert '<li class="tag">2027</li><li class="tag">travel</li>' in page


def test_the_tags_field_shows_the_chats_tags_comma_separated(browser, user):
    chat = make_chat(user, "trip plans", tags=["travel", "2027"])

    page = html(browser.get(reverse("chat_list"), **HTMX))

    assert re.search(r'<label>Tags <input type="text" name="tags" value="2027, travel"', page)
    assert f'action="{reverse("tags", args=[chat.id])}"' in page


def test_saving_tags_sets_them_and_answers_the_entry(browser, user):
    chat = make_chat(user, "trip plans", tags=["old"])

    response = browser.post(reverse("tags", args=[chat.id]), {"tags": " travel, ideas ,, "}, **HTMX)

    assert response.status_code == 200
    assert response["HX-Trigger"] == "conversationsChanged"
    assert tags_of(chat) == ["ideas", "travel"]
    assert f'id="chat-{chat.id}"' in html(response)
    assert '<li class="tag">ideas</li>' in html(response)


def test_an_empty_tags_field_clears_them(browser, user):
    chat = make_chat(user, "trip plans", tags=["old"])

    browser.post(reverse("tags", args=[chat.id]), {"tags": ""}, **HTMX)

    assert tags_of(chat) == []


def test_tags_without_javascript_go_back_to_the_page(browser, user):
    chat = make_chat(user, "trip plans")
    back = reverse("chat", args=[chat.id])

    response = browser.post(reverse("tags", args=[chat.id]), {"tags": "a, b", "next": back})

    assert response.status_code == 302
    assert response["Location"] == back
    assert tags_of(chat) == ["a", "b"]


def test_too_many_tags_keep_the_menu_open_with_the_reason(browser, user, settings):
    settings.NUMINA_MAX_TAGS = 2
    chat = make_chat(user, "trip plans", tags=["kept"])

    response = browser.post(reverse("tags", args=[chat.id]), {"tags": "a, b, c"}, **HTMX)

    page = html(response)
    assert response.status_code == 200
    assert '<details class="chat-actions" open>' in page
    assert 'value="a, b, c"' in page
    assert 'role="alert">Ensure this field has no more than 2 elements.' in page
    assert tags_of(chat) == ["kept"]


def test_a_tag_too_long_is_refused_without_javascript_too(browser, user):
    chat = make_chat(user, "trip plans")

    response = browser.post(reverse("tags", args=[chat.id]), {"tags": "x" * 51}, follow=True)

    assert "no more than 50 characters" in html(response)
    assert tags_of(chat) == []


def test_another_users_chat_has_no_tags_to_set(browser, other_user):
    theirs = make_chat(other_user, "theirs", tags=["private"])

    response = browser.post(reverse("tags", args=[theirs.id]), {"tags": "mine"}, **HTMX)

    assert response.status_code == 404
    assert tags_of(theirs) == ["private"]


def test_tags_are_post_only(browser, user):
    chat = make_chat(user, "trip plans")

    assert browser.get(reverse("tags", args=[chat.id])).status_code == 405


# --- Filter by tag ---------------------------------------------------------------------


def test_filter_by_tag_lists_the_tags_with_their_counts(browser, user, other_user):
    make_chat(user, "a", tags=["work"])
    make_chat(user, "b", tags=["work", "home"])
    make_chat(other_user, "theirs", tags=["secret"])

    page = html(browser.get(reverse("chat_list"), **HTMX))

    assert '<label for="tag-filter">Filter by tag</label>' in page
    assert '<option value="home">home (1)</option>' in page
    assert '<option value="work">work (2)</option>' in page
    assert "secret" not in page


def test_without_tags_there_is_no_filter(browser, user):
    make_chat(user, "plain")

    assert "Filter by tag" not in html(browser.get(reverse("chat_list"), **HTMX))


def test_filter_by_tag_narrows_the_list(browser, user):
    make_chat(user, "work one", tags=["work"])
    make_chat(user, "home one", tags=["home"])
    make_chat(user, "pinned work", tags=["work"], is_pinned=True)

    response = browser.get(reverse("chat_list"), {"tag": "work"}, **HTMX)

    assert titles(response) == ["pinned work", "work one"]
    assert '<option value="work" selected>' in html(response)
    assert 'data-reload-url="/chats/list/?tag=work"' in html(response)


def test_filter_by_tag_pages_with_the_keyset_cursor(browser, user, settings):
    settings.NUMINA_PAGE_SIZE = 2
    for n in range(5):
        make_chat(user, f"work {n}", tags=["work"])
        make_chat(user, f"other {n}")

    first = browser.get(reverse("chat_list"), {"tag": "work"}, **HTMX)
    cursor = first.context["sidebar"]["page"].next_cursor
    second = browser.get(reverse("chat_list"), {"tag": "work", "cursor": cursor}, **HTMX)

    assert titles(first) == ["work 4", "work 3"]
    assert titles(second) == ["work 2", "work 1"]
    assert "tag=work" in html(first).split('class="more"', 1)[1].split(">", 1)[0]


def test_filter_by_tag_within_the_archive(browser, user):
    archived = make_chat(user, "old work", tags=["work"])
    services.archive_conversation(user=user, conversation_id=archived.id)
    make_chat(user, "new work", tags=["work"])

    response = browser.get(reverse("chat_list"), {"tag": "work", "archived": "1"}, **HTMX)

    assert titles(response) == ["old work"]


def test_a_tag_no_chat_carries_shows_an_empty_list(browser, user):
    make_chat(user, "a", tags=["work"])

    response = browser.get(reverse("chat_list"), {"tag": "gone"}, **HTMX)

    assert titles(response) == []
    assert "No chats tagged “gone”." in html(response)


def test_the_tag_filtered_sidebar_runs_a_fixed_number_of_queries(
    browser, user, django_assert_max_num_queries
):
    for n in range(2):
        make_chat(user, f"w{n}", tags=["work", f"t{n}"])
    with django_assert_max_num_queries(20) as few:
        browser.get(reverse("chat_list"), {"tag": "work"}, **HTMX)
    for n in range(30):
        make_chat(user, f"more{n}", tags=["work", f"x{n}"], is_pinned=n % 5 == 0)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = browser.get(reverse("chat_list"), {"tag": "work"}, **HTMX)

    assert len(titles(response)) == 20 + 6  # a page, and the pinned ones above it


def test_a_chat_page_with_the_tag_filter_runs_a_fixed_number_of_queries(
    browser, user, django_assert_max_num_queries
):
    chat = make_chat(user, "open", ["hello"], tags=["work"])
    with django_assert_max_num_queries(40) as few:
        browser.get(reverse("chat", args=[chat.id]), {"tag": "work"})
    for n in range(25):
        make_chat(user, f"more{n}", tags=["work", f"x{n}"])

    with django_assert_max_num_queries(len(few.captured_queries)):
        browser.get(reverse("chat", args=[chat.id]), {"tag": "work"})


# --- Select ----------------------------------------------------------------------------


def test_select_gives_each_chat_a_checkbox_named_by_its_title(browser, user):
    chat = make_chat(user, "trip <plans>")

    page = html(browser.get(reverse("chat_list"), {"select": "1"}, **HTMX))

    assert (
        f'<input type="checkbox" class="select-chat" name="ids" value="{chat.id}" '
        'aria-label="trip &lt;plans&gt;">'
    ) in page
    for name in ("Archive selected", "Delete selected", "Tag selected"):
        assert f">{name}</button>" in page
    assert 'id="bulk-form"' in page
    assert "chat-actions" not in page  # the menus' forms would nest in the bulk form
    assert 'data-reload-url="/chats/list/?select=1"' in page
    assert ">Cancel selection</a>" in page


def test_without_select_there_are_no_checkboxes(browser, user):
    make_chat(user, "trip")

    page = html(browser.get(reverse("chat_list"), **HTMX))

    assert 'type="checkbox"' not in page
    assert ">Select</a>" in page


def bulk(browser, action, chats, **extra):
    body = {"action": action, "ids": [str(c.id) for c in chats], **extra}
    return browser.post(reverse("bulk"), body, **HTMX)


def test_archive_selected_archives_each_and_answers_the_list_no_longer_selecting(browser, user):
    chats = [make_chat(user, f"chat {n}") for n in range(3)]
    kept = make_chat(user, "kept")

    response = bulk(browser, "archive", chats)

    assert response.status_code == 200
    assert response["HX-Trigger"] == "conversationsChanged"
    assert all(fresh(c).is_archived for c in chats)
    assert not fresh(kept).is_archived
    assert titles(response) == ["kept"]
    assert response.context["sidebar"]["selecting"] is False
    assert len({fresh(c).change_seq for c in chats}) == 3  # one change each


def test_delete_selected_moves_each_to_the_trash(browser, user):
    chats = [make_chat(user, f"chat {n}") for n in range(2)]

    bulk(browser, "delete", chats)

    assert all(fresh(c).trashed_at for c in chats)
    assert DeletedConversation.objects.filter(owner=user).count() == 2


def test_tag_selected_adds_the_tags_to_each(browser, user):
    first = make_chat(user, "first", tags=["kept"])
    second = make_chat(user, "second")

    bulk(browser, "add_tags", [first, second], tags="trip, ideas")

    assert tags_of(first) == ["ideas", "kept", "trip"]
    assert tags_of(second) == ["ideas", "trip"]


def test_unarchive_selected_in_the_archive(browser, user):
    chat = make_chat(user, "old")
    services.archive_conversation(user=user, conversation_id=chat.id)
    page = html(browser.get(reverse("chat_list"), {"select": "1", "archived": "1"}, **HTMX))
    assert ">Unarchive selected</button>" in page

    bulk(browser, "unarchive", [chat], archived="1")

    assert not fresh(chat).is_archived


def test_select_on_a_filtered_list_acts_on_it_and_keeps_the_filter(browser, user):
    work = [make_chat(user, f"work {n}", tags=["work"]) for n in range(2)]
    other = make_chat(user, "other")
    page = html(browser.get(reverse("chat_list"), {"select": "1", "tag": "work"}, **HTMX))
    assert '<input type="hidden" name="tag" value="work">' in page
    assert str(other.id) not in page

    response = bulk(browser, "archive", work, tag="work")

    assert all(fresh(c).is_archived for c in work)
    assert response.context["sidebar"]["tag"] == "work"
    assert titles(response) == []


def test_select_on_a_searched_list(browser, user):
    found = make_chat(user, "heron watching")
    make_chat(user, "other")
    page = html(browser.get(reverse("chat_list"), {"select": "1", "q": "heron"}, **HTMX))
    assert f'name="ids" value="{found.id}" aria-label="heron watching"' in page
    assert '<input type="hidden" name="q" value="heron">' in page

    response = bulk(browser, "delete", [found], q="heron")

    assert fresh(found).trashed_at is not None
    assert response.context["sidebar"]["query"] == "heron"


def test_nothing_ticked_keeps_selecting_with_the_reason(browser, user):
    chat = make_chat(user, "chat")

    response = browser.post(reverse("bulk"), {"action": "archive"}, **HTMX)

    assert response.context["sidebar"]["selecting"] is True
    assert 'role="alert">Choose the chats first' in html(response)
    assert not fresh(chat).is_archived


def test_tag_selected_without_tags_is_refused(browser, user):
    chat = make_chat(user, "chat")

    response = bulk(browser, "add_tags", [chat], tags=" , ")

    assert "Give the tags to add" in html(response)
    assert tags_of(chat) == []


def test_an_unknown_action_is_refused(browser, user):
    chat = make_chat(user, "chat")

    response = bulk(browser, "explode", [chat])

    assert response.context["sidebar"]["bulk_errors"]
    assert not fresh(chat).is_archived


def test_more_than_the_bound_is_refused(browser, user, settings):
    settings.NUMINA_BULK_MAX_IDS = 2
    chats = [make_chat(user, f"c{n}") for n in range(3)]

    response = bulk(browser, "archive", chats)

    assert "at most 2 chats" in html(response)
    assert not any(fresh(c).is_archived for c in chats)


def test_tags_past_the_bound_on_some_chats_say_so_and_the_others_are_tagged(
    browser, user, settings
):
    settings.NUMINA_MAX_TAGS = 1
    full = make_chat(user, "full", tags=["a"])
    room = make_chat(user, "room")

    response = bulk(browser, "add_tags", [full, room], tags="b")

    assert "1 of the chats could not be changed" in html(response)
    assert tags_of(full) == ["a"]
    assert tags_of(room) == ["b"]


def test_another_users_ticked_chat_is_left_alone(browser, user, other_user):
    mine = make_chat(user, "mine")
    theirs = make_chat(other_user, "theirs")

    response = browser.post(
        reverse("bulk"),
        {
            "action": "delete",
            "ids": [str(mine.id), str(theirs.id), "not-a-uuid", str(uuid.uuid4())],
        },
        **HTMX,
    )

    assert response.status_code == 200
    assert fresh(mine).trashed_at is not None
    assert fresh(theirs).trashed_at is None


def test_bulk_without_javascript_goes_back_to_the_page_and_list(browser, user):
    chats = [make_chat(user, f"w{n}", tags=["work"]) for n in range(2)]
    page = reverse("chat", args=[chats[0].id])

    response = browser.post(
        reverse("bulk"),
        {"action": "archive", "ids": [str(c.id) for c in chats], "tag": "work",
         "next": f"{page}?select=1&tag=work"},
    )  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == f"{page}?tag=work"
    assert all(fresh(c).is_archived for c in chats)


def test_bulk_without_javascript_and_nothing_ticked_goes_back_selecting(browser, user):
    response = browser.post(reverse("bulk"), {"action": "archive", "next": "/"})

    assert response["Location"] == "/?select=1"


def test_bulk_is_post_only_and_needs_a_login(browser, client):
    assert browser.get(reverse("bulk")).status_code == 405
    client.logout()
    assert client.post(reverse("bulk"), {"action": "archive"})["Location"].startswith(
        reverse("login")
    )


def test_bulk_queries_grow_by_a_fixed_number_per_chat(browser, user, django_assert_max_num_queries):
    few = [make_chat(user, f"a{n}") for n in range(2)]
    with django_assert_max_num_queries(60) as baseline:
        bulk(browser, "archive", few)
    many = [make_chat(user, f"b{n}") for n in range(12)]

    # The single action's own queries per chat (as the API's bulk: 5), the list once.
    with django_assert_max_num_queries(len(baseline.captured_queries) + 5 * 10):
        bulk(browser, "archive", many)


# --- search: More results --------------------------------------------------------------


def test_search_pages_past_the_first_twenty_results(browser, user):
    for n in range(25):
        make_chat(user, f"heron {n:02}", ["a heron by the water"])

    first = browser.get(reverse("chat_list"), {"q": "heron"}, **HTMX)
    search = first.context["sidebar"]["search"]
    assert len(search.conversations) == len(search.messages) == 20
    assert ">More results</a>" in html(first)

    second = browser.get(
        reverse("chat_list"),
        {"q": "heron", "chats": search.next_chats, "hits": search.next_hits},
        **HTMX,
    )
    more = second.context["sidebar"]["search"]

    assert second.templates[0].name == "conversations/_search_page.html"
    assert len(more.conversations) == len(more.messages) == 5
    seen = [c.title for c in [*search.conversations, *more.conversations]]
    assert sorted(seen) == sorted(f"heron {n:02}" for n in range(25))
    hits = [m.id for m in [*search.messages, *more.messages]]
    assert len(set(hits)) == 25
    assert "More results" not in html(second)


def test_more_results_go_on_with_the_list_that_has_not_ended(browser, user):
    make_chat(user, "heron", [f"heron note {n}" for n in range(25)])

    first = browser.get(reverse("chat_list"), {"q": "heron"}, **HTMX).context["sidebar"]["search"]
    assert first.next_chats == "end"

    more = browser.get(
        reverse("chat_list"),
        {"q": "heron", "chats": first.next_chats, "hits": first.next_hits},
        **HTMX,
    ).context["sidebar"]["search"]

    assert more.conversations == []
    assert len(more.messages) == 5


def test_a_garbled_more_results_cursor_starts_over(browser, user):
    make_chat(user, "heron", ["heron"])

    response = browser.get(
        reverse("chat_list"), {"q": "heron", "chats": "garbage", "hits": "!!"}, **HTMX
    )

    assert response.status_code == 200
    assert len(response.context["sidebar"]["search"].messages) == 1


def test_search_with_a_tag_filter_narrows_it(browser, user):
    make_chat(user, "heron work", ["heron"], tags=["work"])
    make_chat(user, "heron home", ["heron"])

    search = browser.get(reverse("chat_list"), {"q": "heron", "tag": "work"}, **HTMX).context[
        "sidebar"
    ]["search"]

    assert [c.title for c in search.conversations] == ["heron work"]
    assert [m.conversation.title for m in search.messages] == ["heron work"]


# --- find in chat ----------------------------------------------------------------------


def long_chat(user, count=60):
    chat = services.create_conversation(user=user, title="long")
    services.add_messages(
        user=user,
        conversation_id=chat.id,
        messages=[
            services.NewMessage(
                role="user", content="the heron flew by" if n == 3 else f"note {n} about kiwis"
            )
            for n in range(count)
        ],
    )
    return chat


def test_the_chat_page_has_a_find_field(browser, user):
    chat = make_chat(user, "chat", ["hello"])

    page = html(browser.get(reverse("chat", args=[chat.id])))

    assert '<label for="find-in-chat" class="visually-hidden">Find in chat</label>' in page
    assert f'action="{reverse("find_in_chat", args=[chat.id])}"' in page


def test_find_jumps_to_the_best_match(browser, user):
    chat = long_chat(user)
    match = chat.messages.get(seq=4)

    response = browser.get(reverse("find_in_chat", args=[chat.id]), {"q": "heron"})

    assert response.status_code == 302
    assert response["Location"] == (
        f"{reverse('chat', args=[chat.id])}?find=heron&at={match.id}#m-4"
    )


def test_the_page_at_a_match_shows_the_window_ending_with_it(browser, user):
    chat = long_chat(user)  # the match, message 4 of 60, is not among the newest 50
    match = chat.messages.get(seq=4)

    response = browser.get(reverse("chat", args=[chat.id]), {"find": "heron", "at": str(match.id)})

    page = html(response)
    assert 'id="m-4"' in page
    assert 'id="m-5"' not in page
    assert "<mark>heron</mark>" in page
    assert 'aria-current="location"' in page
    assert ">Newest messages</a>" in page


def test_the_newest_page_does_not_hold_the_old_match(browser, user):
    chat = long_chat(user)

    assert 'id="m-4"' not in html(browser.get(reverse("chat", args=[chat.id])))


def test_find_lists_every_match_best_first(browser, user):
    chat = make_chat(user, "birds", ["heron", "a heron and a heron", "kiwi"])

    response = browser.get(reverse("chat", args=[chat.id]), {"find": "heron"})

    hits = response.context["find"].hits
    assert [hit.seq for hit in hits] == [2, 1]
    assert "2 matches" in html(response)


def test_find_with_no_match_says_so(browser, user):
    chat = make_chat(user, "birds", ["kiwi"])

    response = browser.get(reverse("find_in_chat", args=[chat.id]), {"q": "heron"}, follow=True)

    assert "No message in this chat matches “heron”." in html(response)


def test_find_finds_a_message_on_another_branch(browser, user):
    chat = make_chat(user, "branches", ["first question"])
    first = chat.messages.get(seq=1)
    services.add_message(
        user=user,
        conversation_id=chat.id,
        role="user",
        content="an edited heron question",
        parent_id=services.NO_PARENT,
    )
    services.switch_branch(user=user, conversation_id=chat.id, message_id=first.id)

    response = browser.get(reverse("find_in_chat", args=[chat.id]), {"q": "heron"}, follow=True)

    assert "edited <mark>heron</mark> question" in html(response)
    assert "an edited heron question" in html(response).split('id="message-list"', 1)[1]


def test_find_only_looks_in_this_chat(browser, user):
    chat = make_chat(user, "mine", ["kiwi"])
    make_chat(user, "other", ["heron"])

    response = browser.get(reverse("chat", args=[chat.id]), {"find": "heron"})

    assert response.context["find"].hits == []


def test_a_find_too_long_is_an_error_not_a_crash(browser, user, settings):
    settings.NUMINA_SEARCH_QUERY_MAX_LENGTH = 5
    chat = make_chat(user, "chat", ["hello"])

    response = browser.get(reverse("find_in_chat", args=[chat.id]), {"q": "x" * 6}, follow=True)

    assert response.status_code == 200
    assert response.context["find"].errors


def test_an_empty_find_goes_back_to_the_chat(browser, user):
    chat = make_chat(user, "chat")

    response = browser.get(reverse("find_in_chat", args=[chat.id]), {"q": "  "})

    assert response["Location"] == reverse("chat", args=[chat.id])


def test_find_in_another_users_chat_is_a_404(browser, other_user):
    theirs = make_chat(other_user, "theirs", ["heron"])

    assert browser.get(reverse("find_in_chat", args=[theirs.id]), {"q": "heron"}).status_code == 404


def test_an_at_that_is_not_a_message_of_the_chat_shows_the_newest(browser, user, other_user):
    chat = make_chat(user, "chat", ["hello"])
    theirs = make_chat(other_user, "theirs", ["secret"])
    their_message = theirs.messages.get()

    page = html(browser.get(reverse("chat", args=[chat.id]), {"at": str(their_message.id)}))

    assert "hello" in page
    assert "secret" not in page
