"""Search at a known number of matches, today's ranking of every match beside the bounded
candidates (issue 19), in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_search_bench \\
        python -m benchmarks.generate --users 1 --conversations 10000 --messages 200000 \\
            --plant rareword:100 --plant commonword:10000 --plant everyword:all
    DATABASE_URL=… REDIS_URL=… python -m benchmarks.search_bench [--baseline main] [--runs 200]

For each planted word of the manifest (benchmarks/results/dataset.json) it times, as the
server runs them (in-process, a real request through DRF's APIClient with the user's
Bearer token: middleware, authentication, the query, the serializer): ``GET
/api/v1/search/``, and as "search query" its selector and queries alone; the chat list's
``GET /api/v1/conversations/?q=``; and the browser's sidebar search
(``selectors.sidebar.sidebar_search``). Each is timed with the selectors of ``--baseline``
(a git revision: its ``conversations/selectors/__init__.py`` is loaded beside this one and
put in its place for those requests) and with this checkout's, alternately, request by
request, so the machine's load falls on both alike.

Figures: p50 and p99 in milliseconds, each also as a ratio to a floor measured in the same
run (one message read by primary key through the ORM, the cheapest indexed read there
is), and per variant the ratio of the word in every message to the rare one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only")
# Hundreds of requests a second from one user: the per-user throttle would answer 429.
os.environ.setdefault("NUMINA_THROTTLE_USER", "100000000/min")
django.setup()

from django.db import connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from conversations import selectors  # noqa: E402
from conversations.models import Message  # noqa: E402
from conversations.selectors import sidebar  # noqa: E402
from numina.startup import freeze_startup_objects  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "benchmarks" / "results" / "dataset.json"
SELECTORS = "conversations/selectors/__init__.py"
# What a variant swaps: the functions the views and the sidebar look up on the module.
SWAPPED = ("search_messages", "list_conversations")


def baseline_selectors(revision: str) -> ModuleType:
    """The selectors module as it is at ``revision``, loaded under its own name inside the
    package, so its relative imports reach this checkout's access, models and cursors."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{SELECTORS}"],  # noqa: S607 (git from PATH, as make does)
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    name = "conversations.selectors._baseline"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "conversations.selectors"
    sys.modules[name] = module
    exec(compile(source, f"{revision}:{SELECTORS}", "exec"), module.__dict__)  # noqa: S102 (our own file at another revision)
    return module


@contextlib.contextmanager
def using(module: ModuleType | None) -> Iterator[None]:
    """Requests inside see ``module``'s search and list (None: this checkout's)."""
    if module is None:
        yield
        return
    saved = {name: getattr(selectors, name) for name in SWAPPED}
    try:
        for name in SWAPPED:
            setattr(selectors, name, getattr(module, name))
        yield
    finally:
        for name, function in saved.items():
            setattr(selectors, name, function)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=200, help="requests per variant and case")
    args = parser.parse_args()
    # As the server does once it has loaded (numina/wsgi.py): full collections then walk
    # only what the requests made, not everything loaded at start.
    freeze_startup_objects()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL.")
    manifest = json.loads(MANIFEST.read_text())
    planted: dict[str, int] = manifest.get("planted") or {}
    if not planted:
        sys.exit("No planted words in the manifest: make the data set with --plant (see above).")
    username, token = next(iter(manifest["tokens"].items()))
    from accounts.models import User

    user = User.objects.get(username=username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    message_id = Message.objects.values_list("pk", flat=True).first()

    def floor() -> object:
        return Message.objects.filter(pk=message_id).values_list("pk", flat=True).first()

    def request(path: str, word: str) -> Callable[[], object]:
        def run() -> object:
            response = client.get(path, {"q": word})
            assert response.status_code == 200, response.content[:300]
            return response

        return run

    def sidebar_search(word: str) -> Callable[[], object]:
        return lambda: sidebar.sidebar_search(user=user, query=word, limit=20)

    def search_selector(word: str) -> Callable[[], object]:
        # The API's first page without the request around it: the selector, its query
        # and the page's conversations (looked up on the module, so a variant swaps it).
        return lambda: list(
            selectors.search_messages(user=user, query=word).order_by("-rank", "-id")[:21]  # type: ignore[misc]  # rank: annotated
        )

    cases = [
        ("search query", search_selector),
        ("search", lambda word: request("/api/v1/search/", word)),
        ("chat list q=", lambda word: request("/api/v1/conversations/", word)),
        ("sidebar search", sidebar_search),
    ]
    variants: dict[str, ModuleType | None] = {
        f"{args.baseline}": baseline_selectors(args.baseline),
        "bounded": None,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_message WHERE owner_id = %s", [user.pk])
        total = cursor.fetchone()[0]
    load_before = os.getloadavg()
    print(
        f"{total:,} messages of {username}; {args.runs} requests per variant and case,"
        f" alternating; load average before {load_before[0]:.2f} (cpus: {os.cpu_count()})"
    )

    floor_times: list[float] = []
    figures: dict[tuple[str, str, str], list[float]] = {}
    for case, make in cases:
        for word in planted:
            action = make(word)
            for module in variants.values():  # warm caches and plans for both
                with using(module):
                    for _ in range(5):
                        action()
            for run in range(args.runs):
                # Alternate which goes first, so neither always follows the other.
                order = list(variants.items())
                if run % 2:
                    order.reverse()
                for name, module in order:
                    with using(module):
                        figures.setdefault((case, word, name), []).append(timed(action))
                floor_times.append(timed(floor))

    floor_p50 = statistics.median(floor_times)
    floor_p99 = percentile(floor_times, 0.99)
    print(f"floor (a message by primary key): p50 {floor_p50:.3f} ms, p99 {floor_p99:.3f} ms\n")
    print(
        f"{'case':<15} {'word':<12} {'matches':>8} {'variant':<8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'p50/floor':>10} {'p99/floor':>10}"
    )
    for case, _ in cases:
        for word, matches in planted.items():
            for name in variants:
                times = figures[(case, word, name)]
                p50, p99 = statistics.median(times), percentile(times, 0.99)
                print(
                    f"{case:<15} {word:<12} {matches:>8,} {name:<8} {p50:>8.2f} {p99:>8.2f}"
                    f" {p50 / floor_p50:>10.0f} {p99 / floor_p99:>10.0f}"
                )
        # The word in the most messages against the one in the fewest.
        rare = min(planted, key=planted.__getitem__)
        every = max(planted, key=planted.__getitem__)
        for name in variants:
            ratio = statistics.median(figures[(case, every, name)]) / statistics.median(
                figures[(case, rare, name)]
            )
            print(f"{case:<15} {every}/{rare} p50 ratio, {name}: {ratio:.2f}")
        print()
    load_after = os.getloadavg()
    print(f"load average after {load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")


if __name__ == "__main__":
    main()
