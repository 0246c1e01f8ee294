"""A conversation's standing instructions (issue 18): stored through the API and the
chat page, bounded, sent in the system prompt, counted in the context budget, shown by
the context endpoint, and carried by the one-conversation export."""

import pytest
from django.urls import reverse

from conversations import context, llm, services
from conversations.models import Conversation
from tests.fake_anthropic import Reply

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LIMIT = 4000


def url(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/"


def context_url(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/context/"


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user, title="Recipes")


# --- the API ----------------------------------------------------------------------------


def test_a_new_conversation_has_no_instructions(api):
    body = api.post("/api/v1/conversations/", {}, format="json").json()

    assert body["instructions"] == ""


def test_create_takes_instructions(api):
    response = api.post(
        "/api/v1/conversations/", {"instructions": "Answer in French."}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["instructions"] == "Answer in French."


def test_patch_sets_instructions_and_every_read_shows_them(api, conversation):
    api.get(url(conversation.id))  # the cached retrieve, before the change
    api.get("/api/v1/conversations/")

    response = api.patch(url(conversation.id), {"instructions": "  Be brief.  "}, format="json")

    assert response.status_code == 200
    assert response.json()["instructions"] == "Be brief."  # trimmed
    assert api.get(url(conversation.id)).json()["instructions"] == "Be brief."
    listed = api.get("/api/v1/conversations/").json()["results"]
    assert [item["instructions"] for item in listed] == ["Be brief."]


def test_patch_with_empty_instructions_clears_them(api, user, conversation):
    services.set_instructions(user=user, conversation_id=conversation.id, instructions="x")

    response = api.patch(url(conversation.id), {"instructions": ""}, format="json")

    assert response.json()["instructions"] == ""


def test_instructions_at_the_limit_are_kept(api, conversation):
    response = api.patch(url(conversation.id), {"instructions": "a" * LIMIT}, format="json")

    assert response.status_code == 200
    assert len(response.json()["instructions"]) == LIMIT


def test_instructions_over_the_limit_are_400_and_change_nothing(api, conversation):
    response = api.patch(url(conversation.id), {"instructions": "a" * (LIMIT + 1)}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "instructions": [f"Ensure this field has no more than {LIMIT} characters."]
    }
    assert Conversation.objects.get(id=conversation.id).instructions == ""


def test_create_with_instructions_over_the_limit_is_400_and_makes_nothing(api, user):
    response = api.post(
        "/api/v1/conversations/", {"instructions": "a" * (LIMIT + 1)}, format="json"
    )

    assert response.status_code == 400
    assert "instructions" in response.json()
    assert not Conversation.objects.filter(owner=user).exists()


@pytest.mark.parametrize("value", [None, ["a"], {"a": 1}, "a\x00b"])
def test_instructions_that_are_not_text_are_400(api, conversation, value):
    response = api.patch(url(conversation.id), {"instructions": value}, format="json")

    assert response.status_code == 400
    assert "instructions" in response.json()


def test_the_limit_is_a_setting(api, conversation, settings):
    settings.NUMINA_INSTRUCTIONS_MAX_LENGTH = 10

    response = api.patch(url(conversation.id), {"instructions": "a" * 11}, format="json")

    assert response.status_code == 400


def test_batch_update_sets_instructions(api, conversation):
    response = api.post(
        "/api/v1/batch/",
        {
            "operations": [
                {
                    "op": "update_conversation",
                    "conversation_id": str(conversation.id),
                    "instructions": "Use metric units.",
                }
            ]
        },
        format="json",
    )

    assert response.json()["results"][0]["status"] == 200
    assert Conversation.objects.get(id=conversation.id).instructions == "Use metric units."


# --- the context and the model ------------------------------------------------------------


def test_instructions_are_in_the_system_prompt_the_model_gets(api, user, conversation, claude):
    services.set_instructions(
        user=user, conversation_id=conversation.id, instructions="Always answer in French."
    )
    claude.answer(Reply("Bonjour."))

    response = api.post(
        "/api/v1/chat/",
        {"message": "Hello", "conversation_id": str(conversation.id)},
        format="json",
    )

    assert response.status_code == 201
    system = claude.requests[0].body["system"]
    assert system.startswith(llm_system_prompt())
    assert "Always answer in French." in system


def llm_system_prompt() -> str:
    from django.conf import settings

    return settings.NUMINA_SYSTEM_PROMPT


def test_context_shows_the_instructions_and_counts_them(api, user, conversation):
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")
    before = api.get(context_url(conversation.id)).json()
    services.set_instructions(
        user=user, conversation_id=conversation.id, instructions="Answer like a pirate."
    )

    after = api.get(context_url(conversation.id))

    body = after.json()
    assert after["X-Cache"] == "miss"  # the change made the cached context stale
    assert body["instructions"] == "Answer like a pirate."
    assert "Answer like a pirate." in body["system"]
    # Estimates round up per text, so the sum may differ from the parts by one.
    spent = context.instructions_tokens("Answer like a pirate.")
    assert spent - 1 <= body["estimated_tokens"] - before["estimated_tokens"] <= spent
    assert body["estimated_tokens"] == llm.estimate_tokens(
        body["system"]
    ) + llm.estimate_message_tokens(body["messages"])


def test_instructions_take_their_share_of_the_budget():
    history = [context.Turn("user" if i % 2 == 0 else "assistant", "x" * 400) for i in range(40)]
    instructions = "y" * 2000

    without = context.assemble_context(history=history, budget=3000)
    with_them = context.assemble_context(history=history, budget=3000, instructions=instructions)

    spent = context.instructions_tokens(instructions)
    assert without.history_tokens > 3000 - spent
    assert with_them.history_tokens <= 3000 - spent
    assert with_them.history_tokens + spent <= 3000
    assert with_them.instructions_tokens == spent
    assert len(with_them.messages) < len(without.messages)


def test_long_instructions_never_crowd_out_the_message_being_answered():
    history = [context.Turn("user", "What is the capital of France? " * 20)]

    built = context.assemble_context(history=history, budget=100, instructions="z" * 4000)

    assert built.messages[-1]["role"] == "user"
    assert "capital of France" in built.messages[-1]["content"]
    # The history kept only the floor the instructions could not take from it.
    assert built.history_tokens <= context.history_budget_for(budget=100, instructions="z" * 4000)
    assert context.history_budget_for(budget=100, instructions="z" * 4000) <= 100


def test_build_context_reads_the_conversations_instructions(user, conversation):
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")
    services.set_instructions(user=user, conversation_id=conversation.id, instructions="Be kind.")
    conversation.refresh_from_db()

    built = context.build_context(conversation=conversation)

    assert built.instructions == "Be kind."
    assert context.INSTRUCTIONS_HEADER + "Be kind." in built.system


# --- export and import --------------------------------------------------------------------


def test_export_carries_the_instructions_and_import_keeps_them(api, user, conversation):
    services.set_instructions(user=user, conversation_id=conversation.id, instructions="Cite.")
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")
    document = api.get(f"/api/v1/conversations/{conversation.id}/export/")
    exported = b"".join(document.streaming_content)

    imported = api.post("/api/v1/conversations/import/", exported, content_type="application/json")

    assert imported.status_code == 201
    assert imported.json()["instructions"] == "Cite."


def test_import_refuses_instructions_over_the_limit(api, user):
    document = {
        "format": "numina.conversation",
        "version": 1,
        "conversation": {"title": "t", "instructions": "a" * (LIMIT + 1)},
        "messages": [{"role": "user", "content": "Hi"}],
    }

    response = api.post("/api/v1/conversations/import/", document, format="json")

    assert response.status_code == 400
    assert not Conversation.objects.filter(owner=user).exists()


# --- the chat page --------------------------------------------------------------------------


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_the_chat_page_has_a_labelled_instructions_field(browser, user, conversation):
    services.set_instructions(user=user, conversation_id=conversation.id, instructions="Be <b>.")

    page = browser.get(reverse("chat", args=[conversation.id])).content.decode()

    assert '<label for="id_instructions">Instructions</label>' in page
    assert "Be &lt;b&gt;." in page  # escaped
    assert "Save instructions" in page


def test_a_plain_form_saves_instructions_and_goes_back_to_the_chat(browser, conversation):
    response = browser.post(
        reverse("instructions", args=[conversation.id]), {"instructions": "Short answers."}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("chat", args=[conversation.id])
    assert Conversation.objects.get(id=conversation.id).instructions == "Short answers."


def test_htmx_saves_instructions_and_answers_the_panel(browser, conversation):
    response = browser.post(
        reverse("instructions", args=[conversation.id]), {"instructions": "Short."}, **HTMX
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="chat-instructions"' in body
    assert "Saved" in body
    assert Conversation.objects.get(id=conversation.id).instructions == "Short."


def test_instructions_over_the_limit_on_the_page_are_refused_beside_the_field(
    browser, conversation
):
    response = browser.post(
        reverse("instructions", args=[conversation.id]), {"instructions": "a" * (LIMIT + 1)}
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert f"Ensure this field has no more than {LIMIT} characters." in body
    assert 'aria-invalid="true"' in body
    assert Conversation.objects.get(id=conversation.id).instructions == ""


def test_htmx_instructions_over_the_limit_come_back_with_the_refusal(browser, conversation):
    response = browser.post(
        reverse("instructions", args=[conversation.id]),
        {"instructions": "a" * (LIMIT + 1)},
        **HTMX,
    )

    assert response.status_code == 200
    assert "no more than" in response.content.decode()
    assert Conversation.objects.get(id=conversation.id).instructions == ""


def test_another_users_chat_instructions_are_404(browser, other_user):
    theirs = services.create_conversation(user=other_user, title="theirs")

    post = browser.post(reverse("instructions", args=[theirs.id]), {"instructions": "mine"})
    get = browser.get(reverse("instructions", args=[theirs.id]))

    assert (post.status_code, get.status_code) == (404, 404)
    assert Conversation.objects.get(id=theirs.id).instructions == ""
