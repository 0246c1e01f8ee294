"""Which project files the URL-to-SQL path of retrieve, list and append runs (issue 12).

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m benchmarks.hot_paths

Not a reading of the code but a recording of it: ``sys.setprofile`` sees every Python
function call while one real request goes through DRF's ``APIClient`` (the whole stack:
middleware, URL resolver, knox Bearer token as the app sends it, PostgreSQL, Redis, the
after-commit hooks), and every call whose code lives in a project package (``numina/``,
``accounts/``, ``conversations/``) names its file. ``tests/test_hot_paths.py`` runs the
same function and holds each endpoint's own path to ``OWN_PATH_MAX`` files.

Each file that ran is put in one of two lists, and only by these rules:

(a) request-wide plumbing — the files of the classes and functions that settings name
    once for every request, found by importing what settings name (not a list kept
    here): ``MIDDLEWARE``; ``REST_FRAMEWORK``'s authentication, permission, parser,
    renderer and throttle classes and its exception handler; the filters and
    formatters of ``LOGGING``. Plus the apps' ``models.py`` (the rows every path ends
    in). The parser runs for every request with a body, the exception handler for
    every error: neither belongs to one endpoint. ``DEFAULT_PAGINATION_CLASS`` and
    ``DEFAULT_SCHEMA_CLASS`` are settings too but run only for the lists, or only for
    the schema, so they are not plumbing: a file of theirs that runs is (b).
(b) the endpoint's own path — every other project file whose code ran during the
    request, whoever called it (a helper the auth class calls lands here too: only the
    named file is plumbing).

Not counted, and printed apart so nothing is hidden: ``numina/compiled.py``, the ORM's
compiled-query cache (issue 19), which holds no rule and no endpoint's logic: it keeps
the compiled SQL of querysets that the endpoint's own files (and the auth class) build,
as a library of the ORM would; the files that build them are counted. And the URLconf
modules that route the request (``numina/urls.py``, ``conversations/api/urls.py``). They
hold no code that runs per request; Django's resolver reads their patterns as data, so
the profiler never sees them. Likewise not counted: ``conversations/api/serializers.py``
on retrieve and list, whose output serializers' field lists (class attributes, data) the
views read to key their plain-dict answers; none of its code runs and no DRF code runs
on its classes there. Import-time code (a module's body, when the request happens to
import it first) is not the path either and is left out (``<module>`` frames).

Append is measured as a client's append of a user message, with the write's commit and
its after-commit cache invalidation inside the request; it enqueues no follow-up work
(only the chat endpoint's reply does, through conversations/followups.py).
"""

from __future__ import annotations

import inspect
import os
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("numina", "accounts", "conversations")
# The ORM's extension (see above): run, printed, not counted.
ORM_EXTENSIONS = ("numina/compiled.py",)
# Issue 12: "each touch at most four project files besides models and the auth class".
OWN_PATH_MAX = 4


@dataclass(frozen=True)
class HotPath:
    name: str  # "retrieve (miss)" …
    request: str  # "GET /api/v1/conversations/{id}/"
    status: int
    x_cache: str | None
    plumbing: tuple[str, ...]  # (a), paths relative to the checkout
    own: tuple[str, ...]  # (b)
    orm_extension: tuple[str, ...]  # run, not counted
    routing: tuple[str, ...]  # URLconf modules the resolver read (not counted)


def _relative(filename: str) -> str | None:
    """The project file's path from the checkout, or None for anything else (Django, DRF,
    the standard library, the tests, this module)."""
    try:
        relative = Path(filename).resolve().relative_to(ROOT)
    except ValueError:
        return None
    if relative.parts[0] not in PROJECT_PACKAGES or relative.suffix != ".py":
        return None
    return relative.as_posix()


def _source_of(dotted: str) -> str | None:
    from django.utils.module_loading import import_string

    target = import_string(dotted)
    try:
        return _relative(inspect.getsourcefile(target) or "")
    except TypeError:  # a builtin: not ours
        return None


def _logging_targets(logging_config: dict) -> Iterable[str]:
    for section in ("filters", "formatters", "handlers"):
        for entry in logging_config.get(section, {}).values():
            for key in ("()", "class"):
                if isinstance(entry.get(key), str):
                    yield entry[key]


def plumbing_files() -> set[str]:
    """(a): the project files of what settings name for every request, and models.py."""
    from django.conf import settings

    framework = settings.REST_FRAMEWORK
    named: list[str] = [*settings.MIDDLEWARE, *_logging_targets(settings.LOGGING)]
    for key in (
        "DEFAULT_AUTHENTICATION_CLASSES",
        "DEFAULT_PERMISSION_CLASSES",
        "DEFAULT_PARSER_CLASSES",
        "DEFAULT_RENDERER_CLASSES",
        "DEFAULT_THROTTLE_CLASSES",
    ):
        named += framework.get(key, [])
    if framework.get("EXCEPTION_HANDLER"):
        named.append(framework["EXCEPTION_HANDLER"])
    # What every new database connection gets (numina/database.py: the timestamp loader),
    # run when a connection opens, whichever request opens it: not one endpoint's.
    named.append("numina.database.UTCTimestamptzLoader")
    files = {source for source in map(_source_of, named) if source}
    files |= {
        f"{package}/models.py"
        for package in PROJECT_PACKAGES
        if (ROOT / package / "models.py").exists()
    }
    return files


def routing_files(path: str) -> tuple[str, ...]:
    """The URLconf modules whose patterns lead to ``path``, outermost first."""
    from django.urls import URLResolver, get_resolver

    found: list[str] = []
    resolver: Any = get_resolver()
    remaining = path.lstrip("/")
    while True:
        found.append(_relative(resolver.urlconf_module.__file__) or resolver.urlconf_name)
        for pattern in resolver.url_patterns:
            match = pattern.pattern.match(remaining)
            if match and isinstance(pattern, URLResolver):
                resolver, remaining = pattern, match[0]
                break
        else:
            return tuple(found)


def _class_file(klass: type, cache: dict[type, str | None]) -> str | None:
    if klass not in cache:
        module = sys.modules.get(getattr(klass, "__module__", "") or "")
        cache[klass] = _relative(getattr(module, "__file__", None) or "")
    return cache[klass]


def files_run(send: Callable[[], Any]) -> tuple[Any, set[str]]:
    """``send()``'s result, and the project files whose code ran inside it.

    A file counts when a function defined in it runs, and also when code inherited from
    a library runs on a class defined in it (DRF's ``dispatch`` on our view, its
    ``is_valid`` on our serializer, its pagination on our paginator): a class that only
    declares fields still decides what that code does. Left out: whatever runs while a
    module is being imported (its body, its class bodies, the decorators they call),
    which is the first request's import, not the path."""
    seen_codes: dict[Any, str | None] = {}
    seen_classes: dict[type, str | None] = {}
    files: set[str] = set()
    importing = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal importing
        code = frame.f_code
        if code.co_name == "<module>":
            if event == "call":
                importing += 1
            elif event == "return":
                importing = max(importing - 1, 0)
            return
        if event != "call" or importing:
            return
        if code not in seen_codes:
            seen_codes[code] = _relative(code.co_filename)
        if seen_codes[code]:
            files.add(seen_codes[code])  # type: ignore[arg-type]
        if code.co_argcount and code.co_varnames[0] in ("self", "cls"):
            bound = frame.f_locals.get(code.co_varnames[0])
            klass = bound if isinstance(bound, type) else type(bound)
            owner = _class_file(klass, seen_classes)
            if owner:
                files.add(owner)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = send()
    finally:
        sys.setprofile(previous)
    return result, files


def _measure(*, name: str, request: str, path: str, send: Callable[[], Any]) -> HotPath:
    response, files = files_run(send)
    plumbing = plumbing_files()
    return HotPath(
        name=name,
        request=request,
        status=response.status_code,
        x_cache=response.headers.get("X-Cache"),
        plumbing=tuple(sorted(files & plumbing)),
        own=tuple(sorted(files - plumbing - set(ORM_EXTENSIONS))),
        orm_extension=tuple(sorted(files & set(ORM_EXTENSIONS))),
        routing=routing_files(path),
    )


def _expect(path: HotPath, *, status: int, x_cache: str | None) -> HotPath:
    # The figures are only worth something for the state they claim to measure.
    if (path.status, path.x_cache) != (status, x_cache):
        raise AssertionError(
            f"{path.name}: answered {path.status} X-Cache={path.x_cache}, "
            f"expected {status} X-Cache={x_cache}"
        )
    return path


def measure_hot_paths() -> list[HotPath]:
    """Make a user with a Bearer token and a conversation of a few messages (one of them
    edited, so there are siblings) among more than a page of conversations, then record
    retrieve and list on a cache miss and a hit, the list's next page, and append.
    Needs a migrated database and the cache; leaves the user behind for the caller to
    remove (``remove_user``)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from accounts.services import issue_token
    from conversations import services

    user = get_user_model().objects.create_user(
        username=f"hot-paths-{uuid.uuid4().hex[:12]}", password=uuid.uuid4().hex
    )
    conversation = services.create_conversation(user=user, title="Hot paths", tags=["a", "b"])
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hello")
    services.add_message(user=user, conversation_id=conversation.id, role="assistant", content="Hi")
    # A second version of the first message: its branch is the one shown, with siblings.
    services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="Hello again",
        parent_id=services.NO_PARENT,
    )
    services.add_message(
        user=user, conversation_id=conversation.id, role="assistant", content="Hi again"
    )

    # More conversations than a page holds, so the list's answer carries a next link.
    for number in range(settings.NUMINA_PAGE_SIZE):
        services.create_conversation(user=user, title=f"Older {number}")

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user, device_name='hot-paths')[0]}"
    )
    detail = f"/api/v1/conversations/{conversation.id}/"
    listing = "/api/v1/conversations/"
    messages = f"/api/v1/conversations/{conversation.id}/messages/"
    retrieve = "GET /api/v1/conversations/{id}/"
    list_ = "GET /api/v1/conversations/"
    append = "POST /api/v1/conversations/{id}/messages/"

    answers: dict[str, Any] = {}

    def get(path: str) -> Callable[[], Any]:
        def send() -> Any:
            answers[path] = client.get(path)
            return answers[path]

        return send

    def next_page() -> Any:
        # The link the first page's answer gave: a client's second page (never cached).
        return client.get(answers[listing].json()["next"])

    def post_message() -> Any:
        return client.post(messages, {"role": "user", "content": "One more"}, format="json")

    # In this order: each miss is the first read since the data was written, each hit
    # the read right after it.
    plan: list[tuple[str, str, str, Callable[[], Any], int, str | None]] = [
        ("retrieve (miss)", retrieve, detail, get(detail), 200, "miss"),
        ("retrieve (hit)", retrieve, detail, get(detail), 200, "hit"),
        ("list (miss)", list_, listing, get(listing), 200, "miss"),
        ("list (hit)", list_, listing, get(listing), 200, "hit"),
        ("list (next page)", list_ + "?cursor=…", listing, next_page, 200, None),
        ("append", append, messages, post_message, 201, None),
    ]
    return [
        _expect(
            _measure(name=name, request=request, path=path, send=send),
            status=status,
            x_cache=x_cache,
        )
        for name, request, path, send, status, x_cache in plan
    ]


def remove_user(*, username_prefix: str = "hot-paths-") -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith=username_prefix).delete()


def report(paths: list[HotPath]) -> str:
    lines = []
    for path in paths:
        lines += [
            f"{path.name}: {path.request} -> {path.status}"
            + (f" X-Cache: {path.x_cache}" if path.x_cache else ""),
            f"  (b) own path, {len(path.own)} file(s): {', '.join(path.own)}",
            f"  (a) plumbing, {len(path.plumbing)} file(s): {', '.join(path.plumbing)}",
            f"  ORM extension, run, not counted: {', '.join(path.orm_extension) or '-'}",
            f"  routing read, not run: {', '.join(path.routing)}",
        ]
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    # APIClient's requests come from "testserver"; this lets ALLOWED_HOSTS take them.
    setup_test_environment()
    try:
        paths = measure_hot_paths()
    finally:
        remove_user()
    print(report(paths))
    over = [path.name for path in paths if len(path.own) > OWN_PATH_MAX]
    if over:
        print(f"over {OWN_PATH_MAX} files: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
