import pytest

from conversations import selectors, services
from conversations.models import Conversation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make(user, title="", **kwargs):
    return services.create_conversation(user=user, title=title or None, **kwargs)


def test_list_is_newest_activity_first_and_only_the_users(user, other_user):
    old = make(user, "old")
    new = make(user, "new")
    make(other_user, "not mine")
    services.add_message(user=user, conversation_id=old.id, role="user", content="bump")
    assert [c.title for c in selectors.list_conversations(user=user)] == ["old", "new"]
    assert new.id in {c.id for c in selectors.list_conversations(user=user)}


def test_list_filters_archived(user):
    active = make(user, "active")
    archived = make(user, "archived")
    services.archive_conversation(user=user, conversation_id=archived.id)
    assert [c.id for c in selectors.list_conversations(user=user)] == [active.id]
    assert [c.id for c in selectors.list_conversations(user=user, archived=True)] == [archived.id]
    assert len(selectors.list_conversations(user=user, archived=None)) == 2


def test_list_filters_pinned_and_tag(user):
    pinned = make(user, "pinned", is_pinned=True)
    tagged = make(user, "tagged", tags=["work"])
    assert [c.id for c in selectors.list_conversations(user=user, pinned=True)] == [pinned.id]
    assert [c.id for c in selectors.list_conversations(user=user, tag="work")] == [tagged.id]


def test_list_tag_filter_never_matches_another_users_tag(user, other_user):
    make(other_user, "theirs", tags=["work"])
    assert list(selectors.list_conversations(user=user, tag="work")) == []


def test_text_query_matches_title_summary_and_message_content(user, other_user):
    by_title = make(user, "Kyoto itinerary")
    by_summary = make(user, "other")
    Conversation.objects.filter(id=by_summary.id).update(summary="We planned the Kyoto temples")
    by_message = make(user, "third")
    services.add_message(
        user=user, conversation_id=by_message.id, role="user", content="Trains to Kyoto are fast"
    )
    make(user, "unrelated")
    theirs = make(other_user, "Kyoto too")
    services.add_message(user=other_user, conversation_id=theirs.id, role="user", content="Kyoto")
    found = {c.id for c in selectors.list_conversations(user=user, query="kyoto")}
    assert found == {by_title.id, by_summary.id, by_message.id}


def test_text_query_uses_web_search_syntax(user):
    both = make(user, "a")
    services.add_message(user=user, conversation_id=both.id, role="user", content="sushi and ramen")
    only_sushi = make(user, "b")
    services.add_message(
        user=user, conversation_id=only_sushi.id, role="user", content="sushi tonight"
    )
    assert {c.id for c in selectors.list_conversations(user=user, query="sushi -ramen")} == {
        only_sushi.id
    }
    assert {c.id for c in selectors.list_conversations(user=user, query='"sushi and ramen"')} == {
        both.id
    }


def test_list_query_count_is_the_same_for_1_and_100_conversations_with_tags(
    django_assert_num_queries,
):
    def count_queries_for(n: int) -> None:
        user = UserFactory()
        for i in range(n):
            make(user, f"c{i}", tags=["a", "b", "c"])
        with django_assert_num_queries(1):  # the page, with each row's tags in an array
            page = list(selectors.list_conversations(user=user)[:100])
            assert all(len(c.tag_list) == 3 for c in page)

    count_queries_for(1)
    count_queries_for(100)


def test_get_conversation_prefetches_tags(user, django_assert_num_queries):
    conversation = make(user, "t", tags=["x", "y"])
    with django_assert_num_queries(1):
        fetched = selectors.get_conversation(user=user, conversation_id=conversation.id)
        assert fetched.tag_list == ["x", "y"]


def test_list_messages_after_seq(user):
    conversation = make(user)
    for n in range(5):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"m{n}"
        )
    messages = selectors.list_messages(user=user, conversation_id=conversation.id, after_seq=3)
    assert [m.seq for m in messages] == [4, 5]


def test_recent_messages_are_the_newest_oldest_first(user):
    conversation = make(user)
    for n in range(5):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"m{n}"
        )
    conversation.refresh_from_db()  # its current message: the branch recent_messages reads
    newest = selectors.recent_messages(user=user, conversation=conversation, limit=3)
    assert [m.seq for m in newest] == [3, 4, 5]
    assert selectors.recent_messages(user=user, conversation=conversation, limit=0) == []
