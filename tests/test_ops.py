"""Health, readiness, metrics and the log format (issue 8's operations)."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from conversations import services
from numina.logs import TaskIdFilter
from tests.deploy.compose import load_compose, service_environment

ROOT = Path(__file__).resolve().parent.parent
CLOSED = "127.0.0.1:1"  # nothing listens on port 1


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_healthz_answers_while_the_process_runs(client):
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_with_every_service_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok", "broker": "ok"}


def request_in_subprocess(
    path: str, *, remote_addr: str = "127.0.0.1", **env: str
) -> subprocess.CompletedProcess:
    """One request through Django in a fresh process with its own environment."""
    code = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        f"r = Client().get({path!r}, REMOTE_ADDR={remote_addr!r});"
        "print(json.dumps({'status': r.status_code, 'body': r.content.decode()}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "numina.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def answer(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_readyz_is_503_when_the_database_is_unreachable():
    result = request_in_subprocess("/readyz", DATABASE_URL=f"postgres://postgres@{CLOSED}/numina")
    got = answer(result)
    assert got["status"] == 503
    assert json.loads(got["body"])["database"] == "unavailable"


@pytest.mark.django_db
def test_readyz_is_200_degraded_when_redis_is_unreachable(settings):
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    result = request_in_subprocess("/readyz", DATABASE_URL=url, REDIS_URL=f"redis://{CLOSED}/0")
    got = answer(result)
    assert got["status"] == 200
    assert json.loads(got["body"]) == {"database": "ok", "cache": "degraded", "broker": "degraded"}


@pytest.mark.django_db
def test_metrics_is_prometheus_text_for_allowed_addresses(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert "django_http_requests_total_by_method_total" in body
    assert "numina_messages_stored_total" in body


def test_metrics_is_hidden_from_other_addresses(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


def test_metrics_from_the_compose_gateway_needs_the_token():
    # docker-compose.yml publishes the web's port directly: every outside request arrives
    # from the bridge network's gateway (172.16.0.0/12), never from the client's address.
    web = load_compose(variables={"SECRET_KEY": "x" * 50})["services"]["web"]
    metrics_env = {
        name: value
        for name, value in service_environment(service=web, variables={}).items()
        if name.startswith(("NUMINA_METRICS", "NUM_PROXIES"))
    }
    got = answer(request_in_subprocess("/metrics", remote_addr="172.18.0.1", **metrics_env))
    assert got["status"] == 404


@pytest.mark.django_db
def test_metrics_behind_a_reverse_proxy_needs_the_token_even_from_loopback(client, settings):
    # A proxy on the same host makes every client 127.0.0.1.
    settings.NUM_PROXIES = 1
    settings.NUMINA_METRICS_TOKEN = "scrape-secret"
    anonymous = client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1")
    scraper = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert (anonymous.status_code, scraper.status_code) == (404, 200)


@pytest.mark.django_db
def test_metrics_for_a_direct_ipv6_loopback_scrape(client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_with_the_token_from_anywhere(client, settings):
    settings.NUMINA_METRICS_TOKEN = "scrape-secret"
    ok = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret"
    )
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    assert (ok.status_code, wrong.status_code) == (200, 404)


@pytest.mark.django_db(transaction=True)
def test_numina_counters_move_with_writes_and_cache_reads(user, api):
    messages_before = sample("numina_messages_stored_total", role="user")
    created_before = sample("numina_conversations_created_total", source="app")
    conversation = services.create_conversation(user=user)
    services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="count me"
    )
    assert sample("numina_messages_stored_total", role="user") == messages_before + 1
    assert sample("numina_conversations_created_total", source="app") == created_before + 1

    misses = sample("numina_cache_requests_total", kind="conv", outcome="miss")
    hits = sample("numina_cache_requests_total", kind="conv", outcome="hit")
    api.get(f"/api/v1/conversations/{conversation.id}/")
    api.get(f"/api/v1/conversations/{conversation.id}/")
    assert sample("numina_cache_requests_total", kind="conv", outcome="miss") == misses + 1
    assert sample("numina_cache_requests_total", kind="conv", outcome="hit") == hits + 1


def test_json_logs_carry_the_request_id():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.test import Client;"
            "Client().get('/no-such-page/', HTTP_X_REQUEST_ID='0123456789abcdef0123456789abcdef')",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "numina.settings", "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    not_found = next(line for line in lines if line["logger"] == "django.request")
    assert not_found["level"] == "WARNING"
    assert "Not Found" in not_found["message"]
    assert not_found["request_id"] == "0123456789abcdef0123456789abcdef"
    assert set(not_found) >= {"time", "level", "logger", "message", "request_id", "task_id"}


def test_log_lines_inside_a_task_carry_its_task_id():
    from numina.celery import app

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.task_id)

    handler = Keep()
    handler.addFilter(TaskIdFilter())
    logger = logging.getLogger("numina.test.task")
    logger.addHandler(handler)

    @app.task(name="tests.log_inside_a_task")
    def log_inside_a_task() -> None:
        logger.warning("inside")

    try:
        result = log_inside_a_task.apply(task_id="task-1234")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    assert result.successful()
    assert seen == ["task-1234", "-"]
