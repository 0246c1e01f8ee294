"""Issue 15, leaving: DELETE /api/v1/me/ and the account page's ``Delete account`` delete
the account and everything it owns, in PostgreSQL and in Redis; a wrong password deletes
nothing, and guessing it is throttled like signing in."""

import uuid
from collections import Counter
from datetime import date

import pytest
from django.apps import apps
from django.db import models
from django.urls import reverse
from django_redis import get_redis_connection
from knox.models import get_token_model
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import issue_token
from conversations import rendering, services, streams
from conversations.models import (
    Conversation,
    ConversationSummary,
    Message,
    PendingInvalidation,
    TokenUsage,
)
from memory import services as memory_services
from memory.models import ExtractionMark, MemoryItem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def fill_account(user: User) -> None:
    """One of everything a user can own: conversations with messages, tags, a summary, a
    deleted conversation's tombstone, token usage, a pending cache invalidation, a token."""
    for n in range(3):
        conversation = services.create_conversation(user=user, title=f"Chat {n}", tags=["work"])
        first = services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"hello {n}"
        )
        services.add_message(
            user=user, conversation_id=conversation.id, role="assistant", content="hi"
        )
        ConversationSummary.objects.create(
            conversation=conversation, covers=first.message, text="greet"
        )
    gone = services.create_conversation(user=user, title="Deleted")
    services.delete_conversation(user=user, conversation_id=gone.id)
    TokenUsage.objects.create(owner=user, day=date(2026, 1, 1), input_tokens=5, output_tokens=7)
    PendingInvalidation.objects.create(owner_id=user.pk, conversation_id=uuid.uuid4(), change_seq=1)
    issue_token(user=user, device_name="phone")
    # Memory: the user's own item and an extracted one, with the conversation's mark.
    memory_services.create_item(user=user, kind="name", content="Ada")
    learnt = services.create_conversation(user=user, title="Memory")
    MemoryItem.objects.create(
        owner=user, kind="role", subject="role", content="biologist", source_conversation=learnt
    )
    ExtractionMark.objects.create(conversation=learnt, seq=2)


def _is_key_to(field, model) -> bool:
    return isinstance(field, models.ForeignKey) and field.related_model is model


def rows_of(user_id) -> Counter:
    """Rows anywhere that belong to the user: every model with a key to the user, to one of
    their conversations, messages or tokens, or an ``owner_id``/``user_id`` without a key.
    Found by looking at every model, so a model added later is checked too."""
    conversation_ids = list(Conversation.objects.filter(owner_id=user_id).values("id"))
    message_ids = list(Message.objects.filter(owner_id=user_id).values("id"))
    token_ids = list(get_token_model().objects.filter(user_id=user_id).values("pk"))
    found: Counter = Counter()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not getattr(field, "concrete", False):
                continue
            if _is_key_to(field, User) or field.attname in ("owner_id", "user_id"):
                lookup = {field.attname: user_id}
            elif _is_key_to(field, Conversation):
                lookup = {f"{field.attname}__in": [c["id"] for c in conversation_ids]}
            elif _is_key_to(field, Message):
                lookup = {f"{field.attname}__in": [m["id"] for m in message_ids]}
            elif _is_key_to(field, get_token_model()):
                lookup = {f"{field.attname}__in": [t["pk"] for t in token_ids]}
            else:
                continue
            count = model._default_manager.filter(**lookup).count()  # noqa: SLF001 (Django: every model has one)
            if count:
                found[f"{model._meta.label}.{field.name}"] += count
    found["accounts.User"] = User.objects.filter(pk=user_id).count()
    return found


def test_deleting_the_account_deletes_everything_it_owns(api, user, other_user):
    fill_account(user)
    fill_account(other_user)
    theirs = rows_of(other_user.pk)
    owned = rows_of(user.pk)
    # The check sees every kind of row filled in above (so an empty result means gone).
    for label in [
        "conversations.Conversation.owner",
        "conversations.Message.owner",
        "conversations.Message.conversation",
        "conversations.Tag.owner",
        "conversations.ConversationSummary.conversation",
        "conversations.DeletedConversation.owner",
        "conversations.ChangeCounter.owner",
        "conversations.MessageBatch.owner",
        "conversations.TokenUsage.owner",
        "conversations.PendingInvalidation.owner_id",
        "knox.AuthToken.user",
        "accounts.DeviceName.token",
        "memory.MemoryItem.owner",
        "memory.MemoryItem.source_conversation",
        "memory.ExtractionMark.conversation",
    ]:
        assert owned[label] > 0, label

    answer = api.delete(ME, {"password": PASSWORD}, format="json")

    assert answer.status_code == 204, answer.content
    assert rows_of(user.pk) == Counter()
    assert rows_of(other_user.pk) == theirs  # nobody else's rows were touched
    assert api.get(ME).status_code == 401  # the token went with the account


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"password": "not it"}, "That is not your password; nothing was deleted."),
        ({"password": PASSWORD.upper()}, "That is not your password; nothing was deleted."),
        ({}, "This field is required."),
        ({"password": ""}, "This field may not be blank."),
        ({"password": ["a", "list"]}, "Not a valid string."),
        ({"password": "x" * 129}, "Ensure this field has no more than 128 characters."),
    ],
)
def test_a_wrong_or_missing_password_is_a_400_and_deletes_nothing(api, user, body, message):
    fill_account(user)
    before = rows_of(user.pk)
    answer = api.delete(ME, body, format="json")
    assert answer.status_code == 400
    assert message in str(answer.json()["password"]), answer.json()
    assert rows_of(user.pk) == before
    assert api.get(ME).status_code == 200  # still signed in


def test_a_body_that_is_not_json_is_a_400(api, user):
    answer = api.generic("DELETE", ME, "{not json", content_type="application/json")
    assert answer.status_code == 400
    assert User.objects.filter(pk=user.pk).exists()


def test_deleting_needs_a_sign_in(anon_api, user):
    assert anon_api.delete(ME, {"password": PASSWORD}, format="json").status_code == 401
    assert User.objects.filter(pk=user.pk).exists()


def test_a_session_deleting_its_account_is_signed_out(session_api, user):
    assert session_api.delete(ME, {"password": PASSWORD}, format="json").status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert session_api.get(ME).status_code in (401, 403)


def test_password_guessing_through_deletion_is_throttled_and_the_right_one_then_waits(
    api, user, throttle_rates
):
    throttle_rates(auth="2/min")
    for _ in range(2):
        assert api.delete(ME, {"password": "guess"}, format="json").status_code == 400
    refused = api.delete(ME, {"password": PASSWORD}, format="json", REMOTE_ADDR="198.51.100.9")
    assert refused.status_code == 429  # the username's bucket, whatever the address
    assert int(refused["Retry-After"]) > 0
    assert User.objects.filter(pk=user.pk).exists()


def test_deletion_counts_in_the_same_buckets_as_signing_in(api, anon_api, user, throttle_rates):
    throttle_rates(auth="2/min")
    for n in range(2):  # guessed at log-in, from other addresses
        anon_api.post(
            "/api/v1/auth/token/",
            {"username": user.username, "password": "guess"},
            format="json",
            REMOTE_ADDR=f"198.51.100.{n + 20}",
        )
    assert api.delete(ME, {"password": "guess"}, format="json").status_code == 429
    assert User.objects.filter(pk=user.pk).exists()


def test_reading_me_is_not_counted_as_a_password_attempt(api, throttle_rates):
    throttle_rates(auth="1/min")
    assert [api.get(ME).status_code for _ in range(3)] == [200, 200, 200]


def test_deletion_takes_a_bounded_number_of_queries_however_much_is_owned(
    api, user, django_assert_max_num_queries
):
    for n in range(40):
        conversation = services.create_conversation(user=user, title=f"Chat {n}", tags=[f"t{n}"])
        services.add_message(user=user, conversation_id=conversation.id, role="user", content="x")
    with django_assert_max_num_queries(45):
        assert api.delete(ME, {"password": PASSWORD}, format="json").status_code == 204


# --- the browser's Delete account -------------------------------------------------------


def test_the_account_page_has_the_delete_form(client, user):
    client.force_login(user)
    page = client.get(reverse("account")).content.decode()
    assert "Delete account" in page
    assert f'action="{reverse("account_delete")}"' in page


def test_the_form_deletes_signs_out_and_shows_a_notice_on_the_login_page(client, user):
    fill_account(user)
    client.force_login(user)
    done = client.post(reverse("account_delete"), {"password": PASSWORD, "confirm": "on"})
    assert done.status_code == 302
    assert done["Location"] == reverse("login")
    assert rows_of(user.pk) == Counter()
    login_page = client.get(done["Location"]).content.decode()
    assert "Your account and everything in it were deleted." in login_page
    assert client.get(reverse("home")).status_code == 302  # signed out


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"password": "not it", "confirm": "on"}, "That is not your password"),
        ({"password": PASSWORD}, "Tick this to confirm"),
        ({"confirm": "on"}, "This field is required."),
    ],
)
def test_the_form_without_the_password_or_the_tick_deletes_nothing(client, user, form, error):
    fill_account(user)
    before = rows_of(user.pk)
    client.force_login(user)
    answer = client.post(reverse("account_delete"), form)
    assert answer.status_code == 400
    assert error in answer.content.decode()
    assert rows_of(user.pk) == before
    assert client.get(reverse("account")).status_code == 200  # still signed in


def test_the_form_needs_a_sign_in_and_a_post(client, user):
    assert client.post(reverse("account_delete"), {"password": PASSWORD, "confirm": "on"})[
        "Location"
    ].startswith(reverse("login"))
    client.force_login(user)
    assert client.get(reverse("account_delete")).status_code == 405
    assert User.objects.filter(pk=user.pk).exists()


def test_the_form_is_throttled_like_signing_in(client, user, throttle_rates):
    throttle_rates(auth="2/min")
    client.force_login(user)
    for _ in range(2):
        client.post(reverse("account_delete"), {"password": "guess", "confirm": "on"})
    refused = client.post(reverse("account_delete"), {"password": PASSWORD, "confirm": "on"})
    assert refused.status_code == 429
    assert User.objects.filter(pk=user.pk).exists()


# --- Redis: the cache entries and stream slots go too (after the commit) ------------------


def redis_keys_naming(owner_id) -> set[bytes]:
    """Their keys but the rate limiter's own request counts (``numina-throttle:…``, of
    numina/throttling.py), which hold no content and are gone within the rate's window
    (a minute)."""
    keys = get_redis_connection("default").scan_iter(match=f"*{owner_id}*", count=1000)
    return {key for key in keys if not key.startswith(b"numina-throttle")}


@pytest.mark.django_db(transaction=True)
def test_the_users_cache_entries_and_stream_slots_are_deleted_and_nobody_elses(settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 3
    owner, other = UserFactory(), UserFactory()
    clients = {}
    rendered = {}
    for person in (owner, other):
        conversation = services.create_conversation(user=person, title="Cached")
        message = services.add_message(
            user=person, conversation_id=conversation.id, role="user", content="**hello**"
        ).message
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=person)[0]}")
        assert client.get("/api/v1/conversations/").status_code == 200
        assert client.get(f"/api/v1/conversations/{conversation.id}/").status_code == 200
        rendering.render_messages(messages=[message])
        streams.acquire_stream_slot(user=person)  # a reply stream still open
        clients[person.pk] = client
        rendered[person.pk] = f"*{message.id}*"
    connection = get_redis_connection("default")
    kinds = lambda keys: {key.decode().split(":")[2] for key in keys if b"numina:" in key}  # noqa: E731
    before = redis_keys_naming(owner.pk)
    assert kinds(before) >= {"version", "entry"}, before
    assert connection.exists(streams.slots_key(owner.pk))
    assert list(connection.scan_iter(match=rendered[owner.pk]))
    others_before = redis_keys_naming(other.pk)

    answer = clients[owner.pk].delete(ME, {"password": PASSWORD}, format="json")

    assert answer.status_code == 204
    assert redis_keys_naming(owner.pk) == set()
    assert not list(connection.scan_iter(match=rendered[owner.pk]))
    assert redis_keys_naming(other.pk) == others_before
    assert list(connection.scan_iter(match=rendered[other.pk]))
