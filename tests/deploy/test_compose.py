"""docker-compose.yml checked without a container engine: the file against the Compose
Specification's schema, and its services' own commands and environments run as local
processes against the local PostgreSQL and Redis, in compose's order (migrate, then web,
worker and beat), until one chat gets its title from the worker.

A wrong command, a variable the file needs and does not get, a URL naming no service or
credentials the database service does not have: each fails here rather than on the first
`docker compose up`.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
import httpx
import jsonschema
import psycopg
import pytest

from tests.deploy.compose import (
    ROOT,
    ComposeError,
    compose_schema,
    image_environment,
    load_compose,
    service_command,
    service_environment,
    start_order,
)

# Generous bounds for a loaded two-core machine: they cap a hang, they do not time anything.
MIGRATE_TIMEOUT = 240
HEALTHY_TIMEOUT = 90
TITLE_TIMEOUT = 90


def compose_variables() -> dict[str, str]:
    """What the operator exports before `docker compose up` (README): only the secret."""
    return {"SECRET_KEY": secrets.token_urlsafe(50)}


def test_compose_file_follows_the_compose_specification():
    document = load_compose(variables=compose_variables())
    jsonschema.Draft7Validator(compose_schema()).validate(document)


def test_compose_specification_check_catches_a_misspelt_key():
    # The schema check can fail: a typo compose would reject is rejected here too.
    document = load_compose(variables=compose_variables())
    document["services"]["web"]["helthcheck"] = document["services"]["web"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError, match="helthcheck"):
        jsonschema.Draft7Validator(compose_schema()).validate(document)


def test_compose_refuses_to_start_without_a_secret_key():
    # A default in the file would be a key published to everyone who reads it.
    with pytest.raises(ComposeError, match="SECRET_KEY"):
        load_compose(variables={})


def test_compose_urls_name_services_of_the_file():
    # On a compose network a URL's host is a service name; any other host is unreachable.
    services = load_compose(variables=compose_variables())["services"]
    for name, service in services.items():
        for variable, value in service_environment(service=service, variables={}).items():
            if "://" in value:
                host = urlsplit(value).hostname
                assert host in services, f"{name}: {variable} names {host}, not a service"


# --- running the services ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalStack:
    """Where the compose file's image-only services (postgres, redis) really are here."""

    postgres: Any  # environ's parsed DATABASE_URL of this test run
    redis: Any  # urlsplit of this test run's REDIS_URL
    database: str  # a database of this test's own
    tmp: Path
    ports: dict[int, int] = field(default_factory=dict)  # container port -> local port

    def rewrite_url(self, *, value: str, services: Mapping[str, Mapping[str, Any]]) -> str:
        """A URL naming a compose service, pointed at the local server standing in for it,
        after checking it would have reached that service in compose (port, credentials)."""
        if "://" not in value:
            return value
        url = urlsplit(value)
        stand_in = services.get(url.hostname or "")
        if stand_in is None or "build" in stand_in:
            return value  # not ours to rewrite: if it names no service, the run fails on it
        image = stand_in["image"].split(":")[0]
        if image == "postgres":
            env = _as_dict(stand_in.get("environment"))
            user = env.get("POSTGRES_USER", "postgres")
            expected = (user, env.get("POSTGRES_PASSWORD"), env.get("POSTGRES_DB", user), 5432)
            got = (url.username, url.password, url.path.lstrip("/"), url.port or 5432)
            assert got == expected, f"{value} does not match the postgres service: {expected}"
            local = f"{self.postgres['USER']}@{self.postgres['HOST']}:{self.postgres['PORT']}"
            return urlunsplit((url.scheme, local, f"/{self.database}", url.query, ""))
        if image == "redis":
            assert (url.port or 6379) == 6379, f"{value}: the redis service listens on 6379"
            return urlunsplit((url.scheme, self.redis.netloc, self.redis.path, url.query, ""))
        raise ComposeError(f"no local stand-in for the {image} image")

    def rewrite_address(self, *, value: str) -> str:
        """A bind address or URL on a published container port, moved to a free local one
        (and to loopback: nothing here should listen on every interface)."""
        for container_port, local_port in self.ports.items():
            for host in ("0.0.0.0", "127.0.0.1", "localhost"):  # noqa: S104 (rewritten away)
                value = value.replace(f"{host}:{container_port}", f"127.0.0.1:{local_port}")
        return value

    def rewrite_path(self, *, value: str) -> str:
        # A container's /tmp is its own; on this shared machine it would not be.
        return value.replace("/tmp/", f"{self.tmp}/")  # noqa: S108 (rewritten away)


def _as_dict(environment: Any) -> dict[str, str]:
    if isinstance(environment, dict):
        return {k: str(v) for k, v in environment.items()}
    return dict(str(entry).partition("=")[::2] for entry in environment or [])


@pytest.fixture
def local_stack(tmp_path) -> Iterator[LocalStack]:
    postgres = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    postgres["PORT"] = postgres.get("PORT") or 5432
    database = f"{postgres['NAME']}_compose"
    admin = f"postgresql://{postgres['USER']}@{postgres['HOST']}:{postgres['PORT']}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{database}"')
    yield LocalStack(
        postgres=postgres,
        redis=urlsplit(os.environ["REDIS_URL"]),
        database=database,
        tmp=tmp_path,
    )
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@dataclass
class Started:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def started() -> Iterator[list[Started]]:
    """Every process the test starts, each in its own session so that its children (celery's
    pool, gunicorn's workers) go with it; ended at the end whatever happened."""
    processes: list[Started] = []
    yield processes
    for entry in processes:
        if entry.process.poll() is None:
            os.killpg(entry.process.pid, signal.SIGTERM)
    for entry in processes:
        try:
            entry.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(entry.process.pid, signal.SIGKILL)
            entry.process.wait(timeout=15)


def container_environment(
    *,
    service: Mapping[str, Any],
    services: Mapping[str, Any],
    variables: Mapping[str, str],
    stack: LocalStack,
) -> dict[str, str]:
    """What the container would see (the image's ENV, then compose's), rewritten to the
    local stand-ins; nothing of this test process leaks in but PATH to the venv's tools."""
    env = {**image_environment(), **service_environment(service=service, variables=variables)}
    env = {
        name: stack.rewrite_address(value=stack.rewrite_url(value=value, services=services))
        for name, value in env.items()
    }
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(stack.tmp),
        "TMPDIR": str(stack.tmp),
    }


def local_command(*, words: list[str], stack: LocalStack) -> list[str]:
    return [stack.rewrite_path(value=stack.rewrite_address(value=word)) for word in words]


def wait_healthy(*, entry: Started, service: Mapping[str, Any], env: dict, stack: LocalStack):
    """Runs the service's own healthcheck until it passes (compose's service_healthy)."""
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", "only the exec form of a healthcheck is run here"
    command = local_command(words=test[1:], stack=stack)
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while time.monotonic() < deadline:
        assert entry.process.poll() is None, f"{entry.name} exited\n{entry.tail()}"
        check = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=30)
        if check.returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"{entry.name} never became healthy\n{entry.tail()}")


def runs_to_completion(*, name: str, services: Mapping[str, Any]) -> bool:
    """A one-shot service: another waits for it to complete, as web, worker and beat do for
    migrate."""
    return any(
        isinstance(s.get("depends_on"), dict)
        and s["depends_on"].get(name, {}).get("condition") == "service_completed_successfully"
        for s in services.values()
    )


def test_compose_services_start_and_the_worker_titles_a_chat(local_stack, started):
    variables = compose_variables()
    document = load_compose(variables=variables)
    services = document["services"]
    ours = [n for n in start_order(services=services) if "build" in services[n]]
    assert ours == ["migrate", "web", "worker", "beat"]
    for name in ours:
        for published in services[name].get("ports", []):
            container_port = int(str(published).rsplit(":", 1)[-1])
            local_stack.ports[container_port] = free_port()

    for name in ours:
        service = services[name]
        env = container_environment(
            service=service, services=services, variables=variables, stack=local_stack
        )
        command = local_command(words=service_command(service=service), stack=local_stack)
        if runs_to_completion(name=name, services=services):
            done = subprocess.run(
                command,
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=MIGRATE_TIMEOUT,
                check=False,
            )
            assert done.returncode == 0, f"{name}: {command}\n{done.stdout}\n{done.stderr}"
            continue
        log = local_stack.tmp / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        entry = Started(name=name, process=process, log=log)
        started.append(entry)
        if "healthcheck" in service:
            wait_healthy(entry=entry, service=service, env=env, stack=local_stack)

    web = f"http://127.0.0.1:{local_stack.ports[8000]}"
    logs = lambda: "\n".join(entry.tail() for entry in started)  # noqa: E731
    with httpx.Client(base_url=web, timeout=30) as client:
        registered = client.post(
            "/api/v1/auth/register/",
            json={"username": "compose", "password": "a-long-unusual-passphrase-42"},
        )
        assert registered.status_code == 201, f"{registered.text}\n{logs()}"
        client.headers["Authorization"] = f"Bearer {registered.json()['token']}"
        chat = client.post("/api/v1/chat/", json={"message": "Plan a walk along the coast"})
        assert chat.status_code == 201, f"{chat.text}\n{logs()}"
        conversation_id = chat.json()["conversation"]["id"]

        deadline = time.monotonic() + TITLE_TIMEOUT
        title = ""
        while not title and time.monotonic() < deadline:
            for entry in started:  # a worker that died will never title it: say so now
                assert entry.process.poll() is None, f"{entry.name} exited\n{entry.tail()}"
            got = client.get(f"/api/v1/conversations/{conversation_id}/")
            assert got.status_code == 200, f"{got.text}\n{logs()}"
            title = got.json()["title"]
            time.sleep(0.5)
    assert title, f"the worker never titled the conversation\n{logs()}"
    for entry in started:
        assert entry.process.poll() is None, f"{entry.name} exited\n{entry.tail()}"
    assert "beat: Starting" in (local_stack.tmp / "beat.log").read_text(), logs()


# --- the backup service ---------------------------------------------------------------------

BACKUP_TIMEOUT = 60


def mounted_paths(*, service: Mapping[str, Any], stack: LocalStack) -> dict[str, Path]:
    """Container path -> local path for the service's volumes: a bind mount (``./ops``) is
    the checkout's own directory, a named volume a directory of this test's own."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            local = (ROOT / source).resolve()
        else:
            local = stack.tmp / "volumes" / source
            local.mkdir(parents=True, exist_ok=True)
        mounts[target] = local
    return mounts


def rewrite_mounts(*, value: str, mounts: Mapping[str, Path]) -> str:
    for target, local in mounts.items():
        if value == target or value.startswith(f"{target}/"):
            return f"{local}{value[len(target) :]}"
    return value


def test_compose_backup_service_dumps_the_database_and_stops_when_told(local_stack, started):
    variables = compose_variables()
    services = load_compose(variables=variables)["services"]
    service = services["backup"]
    # pg_dump refuses a server newer than itself: the backup runs in the database's image.
    assert service["image"] == services["postgres"]["image"]
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    mounts = mounted_paths(service=service, stack=local_stack)
    env = {
        name: rewrite_mounts(
            value=local_stack.rewrite_url(value=value, services=services), mounts=mounts
        )
        for name, value in service_environment(service=service, variables=variables).items()
    }
    env |= {"PATH": os.environ["PATH"], "HOME": str(local_stack.tmp)}
    assert env["NUMINA_BACKUP_KEEP"] == "7"
    assert env["NUMINA_BACKUP_INTERVAL_SECONDS"] == "86400"  # daily unless told
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
        connection.execute("CREATE TABLE walks (id integer PRIMARY KEY)")
        connection.execute("INSERT INTO walks VALUES (1), (2)")

    command = [
        rewrite_mounts(value=word, mounts=mounts) for word in service_command(service=service)
    ]
    log = local_stack.tmp / "backup.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    entry = Started(name="backup", process=process, log=log)
    started.append(entry)

    backups = Path(env["NUMINA_BACKUP_DIR"])
    deadline = time.monotonic() + BACKUP_TIMEOUT
    dumps: list[Path] = []
    while not dumps and time.monotonic() < deadline:
        assert process.poll() is None, f"backup exited\n{entry.tail()}"
        dumps = sorted(backups.glob("numina-*.dump"))
        time.sleep(0.2)
    assert dumps, f"no dump appeared\n{entry.tail()}"
    listing = subprocess.run(
        ["pg_restore", "--list", str(dumps[0])], capture_output=True, text=True, check=True
    )
    assert "TABLE public walks" in listing.stdout
    assert process.poll() is None, entry.tail()  # waiting for the next one, a day on

    os.killpg(process.pid, signal.SIGTERM)  # `docker compose stop`
    assert process.wait(timeout=15) == 0, entry.tail()  # leaves at once, not after its sleep
