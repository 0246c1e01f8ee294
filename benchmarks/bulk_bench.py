"""Bulk actions and filtered search on the benchmark data set (issue 18).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_bench python -m benchmarks.bulk_bench

On the data set of benchmarks/generate.py (default 100 users x 10,000 conversations x
1,000,000 messages) and gunicorn with production settings, as benchmarks/run.py starts it:

- ``POST /api/v1/conversations/bulk/`` archiving 100 of one user's chats, then
  unarchiving them (so the data set is left as it was), one request at a time: wall time
  and the server's own time (Server-Timing) per request, median of ``--bulk-rounds``;
  and its queries, counted in this process by Django's test client on the same database
  (the view and services are the server's; only the transport differs).
- ``GET /api/v1/search/`` with a ``conversation_id`` filter (a random chat of the user,
  one of the data set's three search words: common, middling, rare) under load, beside
  plain search and the bare DRF list floor (benchmarks/floor.py): req/s, p50/p99 and the
  server p50, each over the floor's.

Tables are printed and written as JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import signal
import statistics
import time
import urllib.request
from pathlib import Path

from benchmarks.load import Request, run
from benchmarks.run import RESULTS, ROOT, DataSet, start_server

BULK_IDS = 100


def _server_ms(response) -> float | None:
    timing = response.headers.get("Server-Timing", "")
    return float(timing.split("dur=")[1].split(";")[0].split(",")[0]) if "dur=" in timing else None


def bulk_once(*, port: int, token: str, ids: list[str], action: str) -> tuple[float, float | None]:
    body = json.dumps({"ids": ids, "action": action}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/conversations/bulk/",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
        answer = json.loads(response.read())
        elapsed = time.perf_counter() - started
        server = _server_ms(response)
    statuses = {row["status"] for row in answer["results"]}
    if statuses != {200} or len(answer["results"]) != len(ids):
        raise SystemExit(f"bulk {action} answered {statuses}")
    return elapsed * 1000, server


def bulk_queries(*, token: str, ids: list[str]) -> dict[str, int]:
    """Queries of one bulk archive and one unarchive of ``ids``, counted in-process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    counts = {}
    for action in ("archive", "unarchive"):
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/api/v1/conversations/bulk/",
                {"ids": ids, "action": action},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
            )
        if response.status_code != 200:
            raise SystemExit(f"in-process bulk {action}: {response.status_code}")
        counts[action] = len(captured.captured_queries)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per search scenario")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many rounds")
    parser.add_argument("--bulk-rounds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()

    manifest = json.loads((RESULTS / "dataset.json").read_text())
    data = DataSet(manifest, random.Random(13))
    # A user other than the first (whose branch chats other scenarios read).
    bulk_user = data.users[1]
    bulk_token = data.tokens[bulk_user]
    ids = data.conversations[bulk_user][:BULK_IDS]

    def search() -> Request:
        return Request("GET", f"/api/v1/search/?q={data.rng.choice(data.words)}", data.user()[0])

    def search_conversation() -> Request:
        token, conversation = data.conversation()
        word = data.rng.choice(data.words)
        return Request("GET", f"/api/v1/search/?q={word}&conversation_id={conversation}", token)

    def floor() -> Request:
        return Request("GET", "/bench/floor/", data.user()[0])

    scenarios = {"floor": floor, "search": search, "search-conv": search_conversation}
    server = start_server(port=args.port, workers=args.workers, threads=args.threads)
    bulk: dict[str, list[tuple[float, float | None]]] = {"archive": [], "unarchive": []}
    runs: dict[str, list[dict]] = {name: [] for name in scenarios}
    try:
        bulk_once(port=args.port, token=bulk_token, ids=ids, action="unarchive")  # warm-up
        for _ in range(args.bulk_rounds):
            for action in ("archive", "unarchive"):
                bulk[action].append(
                    bulk_once(port=args.port, token=bulk_token, ids=ids, action=action)
                )
        for _ in range(args.rounds):
            for name, make in scenarios.items():
                drive = functools.partial(
                    run,
                    name=name,
                    host="127.0.0.1",
                    port=args.port,
                    make=make,
                    concurrency=args.concurrency,
                )
                drive(seconds=args.warmup)
                runs[name].append(drive(seconds=args.seconds).summary())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    queries = bulk_queries(token=bulk_token, ids=ids)

    print(
        f"data set: {manifest['users']} users, {manifest['conversations']:,} conversations, "
        f"{manifest['messages']:,} messages; gunicorn {args.workers} uvicorn workers x "
        f"{args.threads} threads"
    )
    bulk_rows = []
    print(f"\nbulk of {len(ids)} chats, one request at a time, median of {args.bulk_rounds}:")
    print(f"{'action':<10} {'wall ms':>9} {'server ms':>10} {'ms / chat':>10} {'queries':>8}")
    for action, samples in bulk.items():
        wall = statistics.median(s[0] for s in samples)
        servers = [s[1] for s in samples if s[1] is not None]
        server_ms = statistics.median(servers) if servers else None
        row = {
            "action": action,
            "chats": len(ids),
            "wall_ms": round(wall, 1),
            "server_ms": round(server_ms, 1) if server_ms is not None else None,
            "queries": queries[action],
        }
        bulk_rows.append(row)
        print(
            f"{action:<10} {wall:>9.1f} {server_ms or 0:>10.1f} {wall / len(ids):>10.2f}"
            f" {queries[action]:>8}"
        )

    rows = [sorted(results, key=lambda r: r["rps"])[len(results) // 2] for results in runs.values()]
    floor_row = next(row for row in rows if row["name"] == "floor")
    print(
        f"\nsearch, concurrency {args.concurrency}, median of {args.rounds} rounds of "
        f"{args.seconds:.0f}s (words: {', '.join(data.words)}):"
    )
    print(
        f"{'scenario':<12} {'req/s':>8} {'x floor':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'server p50':>10} {'x floor':>8} {'requests':>9}  statuses"
    )
    for row in rows:
        row["ratio_to_floor"] = round(row["rps"] / floor_row["rps"], 2)
        server, floor_server = row["server_p50_ms"] or 0, floor_row["server_p50_ms"] or 0
        row["server_p50_over_floor"] = round(server / floor_server, 2) if floor_server else None
        print(
            f"{row['name']:<12} {row['rps']:>8.1f} {row['ratio_to_floor']:>8.2f}"
            f" {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {server:>10.2f}"
            f" {row['server_p50_over_floor'] or 0:>8.2f} {row['requests']:>9}  {row['statuses']}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bulk-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "dataset": {k: manifest[k] for k in ("users", "conversations", "messages")},
                "config": vars(args),
                "bulk": bulk_rows,
                "search": rows,
            },
            indent=2,
        )
    )
    print(f"written {Path(out).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
