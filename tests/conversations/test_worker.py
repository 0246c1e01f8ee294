"""A real Celery worker process, the real Redis broker and the test database.

The worker runs ``celery -A numina worker`` in a subprocess with DATABASE_URL pointing at
pytest-django's test database and the run's own REDIS_URL, and talks to a loopback fake
of the Messages API. Tests here are transactional: the worker only sees committed rows.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from conversations import services, tasks
from conversations.models import Conversation
from numina.celery import app as celery_app
from tests.fake_anthropic import FakeAnthropic, Reply

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Every test's autouse cache.clear() flushes the Redis database the broker shares, so a
    # parallel test process would wipe this worker's queue under it.
    pytest.mark.skipif(
        int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1,
        reason="needs the broker's Redis database to itself: run without -n",
    ),
]


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


@pytest.fixture(scope="module")
def worker_claude():
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, worker_claude, tmp_path_factory):
    with django_db_blocker.unblock():
        url = database_url()  # the test database's name: test_<name>
    # A queue of its own: tasks left by earlier runs, or a parallel run's worker, never
    # meet this worker, and this process sends its tasks there while the module runs.
    queue = f"numina-test-{uuid.uuid4().hex[:12]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": django_settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "ANTHROPIC_API_KEY": "sk-ant-test-dummy",
        "ANTHROPIC_BASE_URL": worker_claude.base_url,
        "ANTHROPIC_MODEL": "claude-test-model",
        "ANTHROPIC_MAX_RETRIES": "0",
        "CONN_MAX_AGE": "0",
        "DEBUG": "false",
    }
    # A file, not a pipe: a pipe nobody reads fills up and blocks the worker.
    log = (tmp_path_factory.mktemp("worker") / "worker.log").open("w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "numina",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--queues={queue}",
            f"--hostname=numina-test-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log = log
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    celery_app.conf.task_default_queue = default_queue


@pytest.fixture
def claude_for_worker(settings, worker_claude):
    """This process and the worker talk to the same fake."""
    settings.ANTHROPIC_API_KEY = "sk-ant-test-dummy"
    settings.ANTHROPIC_BASE_URL = worker_claude.base_url
    settings.ANTHROPIC_MODEL = "claude-test-model"
    worker_claude.script.clear()
    worker_claude.default = Reply("Fake reply")
    return worker_claude


def wait_for_title(conversation_id, worker) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        title = Conversation.objects.get(pk=conversation_id).title
        if title:
            return title
        assert worker.poll() is None, worker_log(worker)
        time.sleep(0.2)
    pytest.fail(f"no title after {WAIT_SECONDS}s\n{worker_log(worker)}")


def wait_for_tasks_to_finish(task_ids, worker) -> None:
    """Until the worker has logged each task as done (succeeded, or retried or failed)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        log = worker_log(worker, tail=None)
        finished = {
            task_id
            for task_id in task_ids
            if any(
                task_id in line and (" succeeded in " in line or " raised " in line)
                for line in log.splitlines()
            )
        }
        if finished == set(task_ids):
            return
        assert worker.poll() is None, worker_log(worker)
        time.sleep(0.1)
    pytest.fail(f"tasks {sorted(task_ids)} not done after {WAIT_SECONDS}s\n{worker_log(worker)}")


def worker_log(worker, tail: int | None = 5000) -> str:
    worker.log.flush()
    worker.log.seek(0)
    text = worker.log.read()
    return text if tail is None else text[-tail:]


def test_real_worker_gives_a_new_conversation_a_title(user, worker, claude_for_worker):
    claude_for_worker.answer(Reply("Volcanoes are vents in the crust."), Reply("About volcanoes"))

    result = services.chat(user=user, message="Tell me about volcanoes")

    assert wait_for_title(result.conversation.id, worker) == "About volcanoes"


def test_real_worker_with_a_task_delivered_twice_leaves_one_title(user, worker, claude_for_worker):
    claude_for_worker.default = Reply("Twice delivered")
    conversation = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")
    before = Conversation.objects.get(pk=conversation.pk).change_seq

    deliveries = [tasks.generate_title.delay(str(conversation.id)).id for _ in range(2)]

    wait_for_tasks_to_finish(deliveries, worker)  # both, not only the first to title it
    updated = Conversation.objects.get(pk=conversation.pk)
    assert updated.title == "Twice delivered"
    assert updated.change_seq == before + 1
