"""Celery tasks for titles and summaries: retries, fallbacks, races, limits, the sweeper."""

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from conversations import followups, llm, services, tasks
from conversations.models import Conversation
from conversations.services import summaries, titles
from numina.celery import app as celery_app
from tests.fake_anthropic import Fail, Gate, Reply


@pytest.fixture
def fast_retries(monkeypatch):
    """Two task retries. Tasks run eagerly here, so Celery retries them without waiting;
    ANTHROPIC_MAX_RETRIES stays 2 (the claude fixture), which tasks must not use."""
    for task in (tasks.generate_title, tasks.summarize_conversation):
        monkeypatch.setattr(task, "max_retries", 2)


@pytest.fixture
def eager():
    """Tasks run in-process, as in the embedded default (no REDIS_URL)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def chatted(user, *exchanges):
    """A conversation holding the given (user, assistant) exchanges."""
    conversation = services.create_conversation(user=user)
    messages = []
    for question, answer in exchanges:
        messages += [
            services.NewMessage(role="user", content=question),
            services.NewMessage(role="assistant", content=answer),
        ]
    services.add_messages(user=user, conversation_id=conversation.id, messages=messages)
    return Conversation.objects.get(pk=conversation.pk)


def long_chat(user, count=30):
    return chatted(user, *[(f"Question {n}. Detail.", f"Answer {n}. More.") for n in range(count)])


def run(task, conversation):
    return task.apply(args=[str(conversation.id)])


# --- limits and options ---------------------------------------------------------------


# The longest Retry-After the SDK honours between two of its attempts.
SDK_LONGEST_RETRY_WAIT = 60


def test_limits_chain_sdk_attempts_under_soft_under_hard_under_visibility():
    s = django_settings
    attempts = llm.BACKGROUND_SDK_RETRIES + 1
    worst_sdk_call = (
        s.ANTHROPIC_TIMEOUT * attempts + llm.BACKGROUND_SDK_RETRIES * SDK_LONGEST_RETRY_WAIT
    )
    visibility = s.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]

    assert worst_sdk_call < s.NUMINA_TASK_SOFT_TIME_LIMIT
    assert s.NUMINA_TASK_SOFT_TIME_LIMIT < s.NUMINA_TASK_TIME_LIMIT < visibility
    # A retry waiting in Redis with a countdown must not outlive the visibility timeout
    # either, or Redis hands it to a second worker.
    assert visibility > s.NUMINA_TASK_RETRY_BACKOFF_MAX


def test_model_tasks_use_the_limits_from_settings():
    for task in (tasks.generate_title, tasks.summarize_conversation):
        assert task.soft_time_limit == django_settings.NUMINA_TASK_SOFT_TIME_LIMIT
        assert task.time_limit == django_settings.NUMINA_TASK_TIME_LIMIT


def test_tasks_acknowledge_late_and_are_redelivered_when_the_worker_dies():
    for task in (
        tasks.generate_title,
        tasks.summarize_conversation,
        tasks.sweep_conversations,
        tasks.replay_cache_invalidations,
    ):
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True


def test_model_tasks_retry_a_finite_number_of_times():
    for task in (tasks.generate_title, tasks.summarize_conversation):
        assert 0 < task.max_retries <= 10


def test_model_tasks_back_off_with_celerys_capped_full_jitter_from_settings():
    for task in (tasks.generate_title, tasks.summarize_conversation):
        assert task.autoretry_for == (llm.TransientLLMError,)
        assert task.max_retries == django_settings.NUMINA_TASK_MAX_RETRIES
        assert task.retry_backoff == django_settings.NUMINA_TASK_RETRY_BACKOFF
        assert task.retry_backoff_max == django_settings.NUMINA_TASK_RETRY_BACKOFF_MAX
        assert task.retry_jitter is True


def test_beat_schedules_the_sweeper_the_cache_replay_emptying_the_trash_and_old_files():
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled == {
        tasks.sweep_conversations.name,
        tasks.replay_cache_invalidations.name,
        tasks.empty_trash.name,
        tasks.purge_orphan_files.name,
    }


def test_cache_replay_task_replays_pending_invalidations(user, monkeypatch):
    replayed = []
    monkeypatch.setattr(tasks.cache, "replay_pending", lambda: replayed.append(True) or True)

    assert tasks.replay_cache_invalidations.apply().result is True
    assert replayed == [True]


# --- titles ---------------------------------------------------------------------------


def test_generate_title_stores_the_models_title(user, claude):
    conversation = chatted(user, ("How do I bake bread?", "Mix flour and water."))
    claude.answer(Reply('"Baking bread at home."'))

    run(tasks.generate_title, conversation)

    conversation.refresh_from_db()
    assert conversation.title == "Baking bread at home"
    assert conversation.title_set_by_user is False


def test_generate_title_skips_a_title_the_user_set(user, claude):
    conversation = chatted(user, ("Hi", "Hello"))
    services.rename_conversation(user=user, conversation_id=conversation.id, title="Mine")

    run(tasks.generate_title, conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "Mine"
    assert claude.requests == []


def test_generate_title_rate_limited_then_success_recovers(user, claude, fast_retries):
    conversation = chatted(user, ("Tell me about owls", "Owls are birds."))
    claude.answer(Fail(429), Reply("All about owls"))

    run(tasks.generate_title, conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "All about owls"
    assert len(claude.requests) == 2


@pytest.mark.parametrize(
    ("status", "tries"),
    [
        pytest.param(500, 3, id="server error: retried, then the fallback"),
        pytest.param(529, 3, id="overloaded: retried, then the fallback"),
        pytest.param(400, 1, id="bad request: not retried, the fallback at once"),
    ],
)
def test_model_failing_every_time_ends_in_the_fallback_title(
    user, claude, fast_retries, status, tries
):
    conversation = chatted(user, ("Plan my week please", "Sure."))
    claude.default = Fail(status)

    run(tasks.generate_title, conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "Plan my week please"
    assert len(claude.requests) == tries  # max_retries = 2


@pytest.mark.parametrize(
    ("task", "exchanges"),
    [
        pytest.param(tasks.generate_title, 1, id="title"),
        pytest.param(tasks.summarize_conversation, 30, id="summary"),
    ],
)
def test_a_task_facing_repeated_529s_asks_the_model_max_retries_plus_one_times(
    user, claude, settings, task, exchanges
):
    # Celery owns the retries and the SDK makes one attempt per try: with the defaults
    # (5 task retries, ANTHROPIC_MAX_RETRIES = 2) that is 6 requests, not 3 x 6 = 18.
    assert settings.ANTHROPIC_MAX_RETRIES == 2
    conversation = long_chat(user, count=exchanges)
    claude.default = Fail(529)

    run(task, conversation)

    assert len(claude.requests) == django_settings.NUMINA_TASK_MAX_RETRIES + 1 == 6


def test_a_chat_reply_facing_repeated_529s_is_retried_by_the_sdk(user, claude, settings):
    # No task around a chat reply: the SDK's own retries are the only ones.
    claude.default = Fail(529)

    with pytest.raises(llm.TransientLLMError):
        llm.get_provider().reply(
            system="You are a test.", messages=[{"role": "user", "content": "Hi"}]
        )

    assert len(claude.requests) == settings.ANTHROPIC_MAX_RETRIES + 1


def test_generate_title_twice_leaves_one_title(user, claude):
    conversation = chatted(user, ("Hi", "Hello"))
    claude.answer(Reply("First title"), Reply("Second title"))

    run(tasks.generate_title, conversation)
    run(tasks.generate_title, conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "First title"
    assert len(claude.requests) == 1


def test_generate_title_for_a_deleted_conversation_does_nothing(user, claude):
    conversation = chatted(user, ("Hi", "Hello"))
    services.delete_conversation(user=user, conversation_id=conversation.id)

    assert run(tasks.generate_title, conversation).result is None
    assert claude.requests == []


def test_the_sweepers_and_tasks_leave_a_trashed_conversation_alone(user, claude, settings):
    settings.NUMINA_SWEEP_GRACE = 0
    settings.NUMINA_SUMMARY_THRESHOLD = 1
    settings.NUMINA_CONTEXT_RECENT_MESSAGES = 1
    conversation = chatted(user, ("Hi", "Hello"), ("More", "Still more"), ("And", "So on"))
    assert conversation.id in titles.conversations_missing_title(limit=10)
    assert conversation.id in summaries.conversations_needing_summary(limit=10)
    services.trash_conversation(user=user, conversation_id=conversation.id)

    assert conversation.id not in titles.conversations_missing_title(limit=10)
    assert conversation.id not in summaries.conversations_needing_summary(limit=10)
    assert run(tasks.generate_title, conversation).result is None
    assert run(tasks.summarize_conversation, conversation).result is None
    assert claude.requests == []


def test_generated_title_moves_the_change_stream(user, offline):
    conversation = chatted(user, ("Hi", "Hello"))

    run(tasks.generate_title, conversation)

    updated = Conversation.objects.get(pk=conversation.pk)
    assert updated.change_seq > conversation.change_seq


# --- summaries ------------------------------------------------------------------------


def test_summarize_folds_the_backlog_outside_the_recent_window(user, offline, settings):
    conversation = long_chat(user)  # 60 messages

    run(tasks.summarize_conversation, conversation)

    conversation.refresh_from_db()
    assert conversation.summary_covers_seq == 60 - settings.NUMINA_CONTEXT_RECENT_MESSAGES
    assert "User: Question 0." in conversation.summary


def test_summarize_below_the_threshold_does_nothing(user, claude):
    conversation = chatted(user, ("Hi", "Hello"))

    run(tasks.summarize_conversation, conversation)

    assert Conversation.objects.get(pk=conversation.pk).summary_covers_seq == 0
    assert claude.requests == []


def test_summarize_sends_the_previous_summary_and_the_new_messages(user, claude):
    conversation = long_chat(user)
    Conversation.objects.filter(pk=conversation.pk).update(
        summary="They asked about 0 to 9.", summary_covers_seq=20
    )
    claude.answer(Reply("Updated summary."))

    run(tasks.summarize_conversation, conversation)

    prompt = claude.requests[0].body["messages"][0]["content"]
    assert "They asked about 0 to 9." in prompt
    assert "Question 10." in prompt
    assert "Question 9." not in prompt
    assert Conversation.objects.get(pk=conversation.pk).summary == "Updated summary."


def test_summary_prompt_is_bounded_however_long_the_summary_and_the_messages(
    user, claude, settings
):
    settings.NUMINA_SUMMARY_INPUT_MAX_CHARS = 10_000
    long = "word " * 19_000  # 95 KB a message
    conversation = chatted(user, *[(f"Q{n} {long}", f"A{n} {long}") for n in range(15)])
    # A summary stored before the bound (or written by hand): 1 MB.
    Conversation.objects.filter(pk=conversation.pk).update(summary="old " * 250_000)
    claude.answer(Reply("S" * 50_000))

    run(tasks.summarize_conversation, conversation)

    prompt = claude.requests[0].body["messages"][0]["content"]
    bound = settings.NUMINA_SUMMARY_MAX_CHARS + settings.NUMINA_SUMMARY_INPUT_MAX_CHARS + 1000
    assert len(prompt) < bound
    assert "Q0 word" in prompt
    conversation.refresh_from_db()
    # Only what the prompt carried is covered: the rest waits for the next run.
    assert 0 < conversation.summary_covers_seq < 30 - settings.NUMINA_CONTEXT_RECENT_MESSAGES
    assert len(conversation.summary) == settings.NUMINA_SUMMARY_MAX_CHARS


def test_summarize_twice_leaves_one_summary(user, claude):
    conversation = long_chat(user)
    claude.answer(Reply("Summary one."), Reply("Summary two."))

    run(tasks.summarize_conversation, conversation)
    run(tasks.summarize_conversation, conversation)

    assert Conversation.objects.get(pk=conversation.pk).summary == "Summary one."
    assert len(claude.requests) == 1


def test_summary_covered_seq_never_moves_back(user, claude, settings):
    conversation = long_chat(user)
    Conversation.objects.filter(pk=conversation.pk).update(summary="Later.", summary_covers_seq=58)

    run(tasks.summarize_conversation, conversation)

    assert Conversation.objects.get(pk=conversation.pk).summary_covers_seq == 58
    assert claude.requests == []


def test_a_long_backlog_is_summarized_a_batch_at_a_time(
    user, offline, settings, enqueued, django_capture_on_commit_callbacks
):
    settings.NUMINA_SUMMARY_BATCH = 20
    conversation = long_chat(user)

    with django_capture_on_commit_callbacks(execute=True):
        run(tasks.summarize_conversation, conversation)

    assert Conversation.objects.get(pk=conversation.pk).summary_covers_seq == 20
    assert enqueued == ["conversations.tasks.summarize_conversation"]


def test_summary_failing_every_time_leaves_the_summary_alone(user, claude, fast_retries):
    conversation = long_chat(user)
    claude.default = Fail(503)

    run(tasks.summarize_conversation, conversation)

    assert Conversation.objects.get(pk=conversation.pk).summary == ""
    assert len(claude.requests) == 3


# --- the sweeper ----------------------------------------------------------------------


def test_sweeper_enqueues_conversations_missing_a_title_or_summary(user, enqueued, settings):
    settings.NUMINA_SWEEP_GRACE = 60
    untitled = chatted(user, ("Hi", "Hello"))
    backlog = long_chat(user)
    services.rename_conversation(user=user, conversation_id=backlog.id, title="Named")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Conversation.objects.filter(pk__in=[untitled.pk, backlog.pk]).update(
        last_activity_at=an_hour_ago
    )

    counts = tasks.sweep_conversations.apply().result

    assert counts == {"titles": 1, "summaries": 1}
    assert sorted(enqueued) == [
        "conversations.tasks.generate_title",
        "conversations.tasks.summarize_conversation",
    ]


def test_sweeper_leaves_fresh_conversations_to_their_queued_tasks(user, enqueued):
    chatted(user, ("Hi", "Hello"))

    assert tasks.sweep_conversations.apply().result == {"titles": 0, "summaries": 0}


def test_sweeper_skips_titled_and_summarized_conversations(user, enqueued, settings):
    settings.NUMINA_SWEEP_GRACE = 0
    conversation = chatted(user, ("Hi", "Hello"))
    services.rename_conversation(user=user, conversation_id=conversation.id, title="Named")

    assert tasks.sweep_conversations.apply().result == {"titles": 0, "summaries": 0}


def test_enqueue_waits_for_commit(user, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        followups.after_commit_generate_title(
            conversation_id="00000000-0000-0000-0000-000000000000"
        )
        assert enqueued == []

    for callback in callbacks:
        callback()
    assert enqueued == ["conversations.tasks.generate_title"]


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_commit_does_not_fail_the_request(user, settings):
    # A process whose broker nothing listens on: the chat must still answer and keep both
    # messages, and the sweeper must find the title that could not be enqueued.
    db = settings.DATABASES["default"]
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    code = (
        "import django; django.setup();"
        "from django.contrib.auth import get_user_model;"
        "from conversations import services;"
        f"user = get_user_model().objects.get(pk={str(user.pk)!r});"
        "print(services.chat(user=user, message='Is the broker up?').conversation.id)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "numina.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "ANTHROPIC_API_KEY": "",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    conversation = Conversation.objects.get(pk=result.stdout.split()[-1])
    assert conversation.owner_id == user.pk
    assert conversation.messages.count() == 2
    assert conversation.title == ""
    settings.NUMINA_SWEEP_GRACE = 0
    assert conversation.id in titles.conversations_missing_title(limit=10)


def test_followups_name_the_tasks_celery_registers():
    assert tasks.generate_title.name == followups.GENERATE_TITLE
    assert tasks.summarize_conversation.name == followups.SUMMARIZE_CONVERSATION


def test_a_fresh_process_has_the_followup_tasks_registered():
    # Nothing imports conversations.tasks in a web process but the app's ready(): without
    # it, eager mode could not find the task followups.py names.
    code = "import django; django.setup(); from numina.celery import app; "
    code += "from conversations.followups import GENERATE_TITLE, SUMMARIZE_CONVERSATION; "
    code += "print(GENERATE_TITLE in app.tasks, SUMMARIZE_CONVERSATION in app.tasks)"

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "numina.settings"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.split() == ["True", "True"]


# --- the embedded default -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_embedded_default_titles_in_process_after_commit(user, offline, eager):
    result = services.chat(user=user, message="What is a good name for a cat?")

    title = Conversation.objects.get(pk=result.conversation.pk).title
    assert title == "What is a good name for a cat?"


# --- races: real transactions, real threads ------------------------------------------


def in_thread(target, **kwargs):
    def run_and_close():
        try:
            target(**kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=run_and_close)
    thread.start()
    return thread


def run_twice_at_once(claude, task, conversation, *answers: str) -> Conversation:
    """Two deliveries of one task, both inside the model call at the same moment."""
    first, second = (Gate(Reply(answer)) for answer in answers)
    claude.answer(first, second)
    threads = [in_thread(run, task=task, conversation=conversation)]
    assert first.entered.wait(10)
    threads.append(in_thread(run, task=task, conversation=conversation))
    assert second.entered.wait(10)
    first.release.set()
    second.release.set()
    for thread in threads:
        thread.join(20)
    return Conversation.objects.get(pk=conversation.pk)


@pytest.mark.django_db(transaction=True)
def test_two_title_tasks_at_once_leave_one_title(user, claude):
    conversation = chatted(user, ("Hi", "Hello"))

    updated = run_twice_at_once(claude, tasks.generate_title, conversation, "Title A", "Title B")

    assert updated.title in {"Title A", "Title B"}
    assert updated.change_seq == conversation.change_seq + 1  # written once


@pytest.mark.django_db(transaction=True)
def test_two_summary_tasks_at_once_leave_one_summary(user, claude, settings):
    conversation = long_chat(user)

    updated = run_twice_at_once(
        claude, tasks.summarize_conversation, conversation, "Summary A", "Summary B"
    )

    assert updated.summary in {"Summary A", "Summary B"}
    assert updated.summary_covers_seq == 60 - settings.NUMINA_CONTEXT_RECENT_MESSAGES
    assert updated.change_seq == conversation.change_seq + 1


@pytest.mark.django_db(transaction=True)
def test_rename_racing_the_title_task_wins(user, claude):
    conversation = chatted(user, ("Hi", "Hello"))
    gate = Gate(Reply("Generated title"))
    claude.answer(gate)

    thread = in_thread(run, task=tasks.generate_title, conversation=conversation)
    assert gate.entered.wait(10)
    services.rename_conversation(user=user, conversation_id=conversation.id, title="My title")
    gate.release.set()
    thread.join(20)

    updated = Conversation.objects.get(pk=conversation.pk)
    assert (updated.title, updated.title_set_by_user) == ("My title", True)


def test_without_redis_tasks_run_in_process():
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    code = "import django; django.setup(); from celery import current_app as app; "
    code += "print(app.conf.task_always_eager, app.conf.broker_url)"

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "DJANGO_SETTINGS_MODULE": "numina.settings"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.split() == ["True", "memory://"]


@pytest.mark.parametrize("model_answer", ['"..."', "Title:", "**"])
def test_title_that_cleans_to_nothing_ends_the_sweeps_requeueing(
    user, claude, enqueued, settings, model_answer
):
    settings.NUMINA_SWEEP_GRACE = 0
    # The first message itself cleans to "" as a title: quotes and dots only.
    conversation = chatted(user, ('"..."', "```"))
    claude.answer(Reply(model_answer))

    run(tasks.generate_title, conversation)
    counts = tasks.sweep_conversations.apply().result

    conversation.refresh_from_db()
    assert conversation.title == "Untitled chat"
    assert conversation.title_set_by_user is False
    assert counts["titles"] == 0
    assert enqueued == []


def test_fallback_title_drops_the_first_messages_markdown(user, claude, fast_retries):
    conversation = chatted(user, ("Can you explain what a **B-tree** is\n```\nx\n```", "Sure."))
    claude.default = Fail(400)

    run(tasks.generate_title, conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "Can you explain what a B-tree is"


def test_fallback_title_that_cleans_to_nothing_ends_the_sweeps_requeueing(user, enqueued, settings):
    settings.NUMINA_SWEEP_GRACE = 0
    conversation = chatted(user, ("``` ```", "..."))

    services.fallback_title(user=user, conversation_id=conversation.id)

    assert Conversation.objects.get(pk=conversation.pk).title == "Untitled chat"
    assert tasks.sweep_conversations.apply().result["titles"] == 0
