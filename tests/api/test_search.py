import pytest

from conversations import services

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/"


def chat(user, title, *contents, archived=False):
    conversation = services.create_conversation(user=user, title=title)
    for content in contents:
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=content
        )
    if archived:
        services.archive_conversation(user=user, conversation_id=conversation.id)
    return conversation


def test_search_finds_messages_best_match_first_with_marked_snippets(api, user):
    chat(user, "once", "I once saw a heron by the river")
    best = chat(user, "many", "heron heron: the grey heron nests near herons")
    body = api.get(SEARCH, {"q": "heron"}).json()
    assert [r["conversation_title"] for r in body["results"]] == ["many", "once"]
    top = body["results"][0]
    assert set(top) == {
        "conversation_id",
        "conversation_title",
        "message_id",
        "seq",
        "role",
        "snippet",
        "created_at",
    }
    assert top["conversation_id"] == str(best.id)
    assert "<mark>heron</mark>" in top["snippet"]


def test_search_snippet_escapes_the_message_html(api, user):
    chat(user, "xss", "<script>alert('heron')</script> <img src=x onerror=alert(1)> heron")
    snippet = api.get(SEARCH, {"q": "heron"}).json()["results"][0]["snippet"]
    assert "<script>" not in snippet
    assert "<img" not in snippet
    assert "&lt;script&gt;" in snippet or "&lt;img" in snippet
    assert "<mark>heron</mark>" in snippet


def test_search_supports_phrases_exclusion_and_or(api, user):
    chat(user, "both", "red apples and green pears")
    chat(user, "apples", "green apples only")
    chat(user, "pears", "just pears")

    def titles(q: str) -> set[str]:
        return {r["conversation_title"] for r in api.get(SEARCH, {"q": q}).json()["results"]}

    assert titles('"red apples"') == {"both"}
    assert titles("apples -pears") == {"apples"}
    assert titles("apples or pears") == {"both", "apples", "pears"}


def test_search_stems_words(api, user):
    chat(user, "running", "she was running every morning")
    assert [r["conversation_title"] for r in api.get(SEARCH, {"q": "runs"}).json()["results"]] == [
        "running"
    ]


def test_search_archived_filter_defaults_to_all(api, user):
    chat(user, "active", "kiwi")
    chat(user, "archived", "kiwi", archived=True)

    def titles(**params: str) -> set[str]:
        results = api.get(SEARCH, {"q": "kiwi", **params}).json()["results"]
        return {r["conversation_title"] for r in results}

    assert titles() == {"active", "archived"}
    assert titles(archived="false") == {"active"}
    assert titles(archived="true") == {"archived"}


def test_search_never_shows_another_users_messages(api, user, other_user):
    chat(other_user, "theirs", "secret mango")
    assert api.get(SEARCH, {"q": "mango"}).json()["results"] == []


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 501}, {"q": "kiwi", "archived": "sometimes"}],
)
def test_search_refuses_bad_queries(api, params):
    assert api.get(SEARCH, params).status_code == 400


@pytest.mark.parametrize("q", ['"', "-", "or", "!!!", "a & b | c", "'", "(", ":*", "\\"])
def test_search_odd_syntax_is_never_a_500(api, user, q):
    chat(user, "c", "something")
    assert api.get(SEARCH, {"q": q}).status_code == 200


def test_search_pages_neither_repeat_nor_skip(api, user):
    for n in range(23):
        chat(user, f"c{n}", "walnut " * (n % 5 + 1))
    seen, url = [], SEARCH + "?q=walnut&page_size=5"
    while url:
        body = api.get(url).json()
        seen += [r["message_id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 23


def test_search_query_count_is_constant(api, user, django_assert_num_queries):
    chat(user, "one", "pecan")
    with django_assert_num_queries(2):  # token with its user; the page with its titles
        api.get(SEARCH, {"q": "pecan"})
    for n in range(25):
        chat(user, f"c{n}", "pecan pie")
    with django_assert_num_queries(2):
        api.get(SEARCH, {"q": "pecan"})
