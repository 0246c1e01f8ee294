"""Measures the API under gunicorn with production settings on the generated data set.

    make benchmark            # generate (if needed) + run, default sizes
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_bench python -m benchmarks.run

Starts gunicorn (DEBUG off, persistent connections) on a loopback port, then for each
scenario drives it from this separate process for a bounded time and prints req/s and
p50/p99 latency as a table, also written as JSON under benchmarks/results/.

The branch scenarios (``flat-*`` and ``tree-*``) read the two chats generate.py makes
for the first user: the same 200-message chat, straight and as a tree with a branch
every 10 messages. Both take the PostgreSQL path every time (an explicit message window,
a context budget other than the cached default), so the table's last line, tree over
straight, is the cost of the tree itself.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks.load import Request, run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# A context budget other than the default (2,000), so the answer is built every time.
BUDGET = 4000
BRANCH_PAIRS = (("retr", "flat-retr", "tree-retr"), ("ctx", "flat-ctx", "tree-ctx"))


class DataSet:
    def __init__(self, manifest: dict, rng: random.Random) -> None:
        self.tokens: dict[str, str] = manifest["tokens"]
        self.conversations: dict[str, list[str]] = manifest["conversation_ids"]
        self.words: list[str] = manifest["search_words"]
        # Absent from a data set generated before the branch scenarios.
        self.branch_chats: dict[str, str] | None = manifest.get("branch_chats")
        self.users = sorted(self.tokens)
        self.rng = rng

    def user(self) -> tuple[str, str]:
        name = self.rng.choice(self.users)
        return self.tokens[name], name

    def conversation(self) -> tuple[str, str]:
        token, name = self.user()
        return token, self.rng.choice(self.conversations[name])


def scenarios(data: DataSet) -> dict[str, Callable[[], Request]]:
    # "warm": the default first page / default message window, which Redis serves once
    # cached; "cold": the same answer asked with explicit default parameters, which
    # always takes the PostgreSQL path (what every miss costs).
    def list_warm() -> Request:
        return Request("GET", "/api/v1/conversations/", data.user()[0])

    def list_cold() -> Request:
        return Request("GET", "/api/v1/conversations/?page_size=20", data.user()[0])

    def retrieve_warm() -> Request:
        # People reopen their recent chats: a working set of 5 per user (500 in all),
        # which the warm-up run puts in the cache.
        token, name = data.user()
        conversation = data.rng.choice(data.conversations[name][:5])
        return Request("GET", f"/api/v1/conversations/{conversation}/", token)

    def retrieve_cold() -> Request:
        token, conversation = data.conversation()
        return Request("GET", f"/api/v1/conversations/{conversation}/?messages=50", token)

    def append() -> Request:
        token, conversation = data.conversation()
        body = {
            "role": "user",
            "content": "A benchmark message " + uuid.uuid4().hex,
            "client_id": str(uuid.uuid4()),
        }
        return Request("POST", f"/api/v1/conversations/{conversation}/messages/", token, body)

    def search() -> Request:
        return Request("GET", f"/api/v1/search/?q={data.rng.choice(data.words)}", data.user()[0])

    def sync() -> Request:
        return Request("GET", "/api/v1/sync/", data.user()[0])

    def context() -> Request:
        token, conversation = data.conversation()
        return Request("GET", f"/api/v1/conversations/{conversation}/context/", token)

    def chat() -> Request:
        token, conversation = data.conversation()
        body = {
            "message": "What did we decide? " + uuid.uuid4().hex,
            "conversation_id": conversation,
        }
        return Request("POST", "/api/v1/chat/", token, body)

    def floor() -> Request:
        return Request("GET", "/bench/floor/", data.user()[0])

    def branch_chat(kind: str, path: str) -> Callable[[], Request]:
        def make() -> Request:
            assert data.branch_chats is not None
            token = data.tokens[data.branch_chats["user"]]
            conversation = data.branch_chats[kind]
            return Request("GET", f"/api/v1/conversations/{conversation}/{path}", token)

        return make

    branches = {}
    if data.branch_chats is not None:
        branches = {
            f"{kind}-{name}": branch_chat(chat, path)
            # Each pair side by side, so both meet the same load on a shared machine.
            for name, path in (("retr", "?messages=50"), ("ctx", f"context/?budget={BUDGET}"))
            for kind, chat in (("flat", "straight"), ("tree", "tree"))
        }

    return {
        "floor": floor,
        "list-warm": list_warm,
        "list-cold": list_cold,
        "retr-warm": retrieve_warm,
        "retr-cold": retrieve_cold,
        "append": append,
        "search": search,
        "sync": sync,
        "context": context,
        "chat": chat,
        **branches,
    }


def start_server(
    *,
    port: int,
    workers: int,
    threads: int | None,
    root: Path = ROOT,
    extra_env: dict | None = None,
    python: str = sys.executable,
) -> subprocess.Popen:
    """gunicorn as production runs it, serving the checkout at ``root`` (another checkout
    beside this one, for a before/after in one run); ``extra_env`` adds to its environment,
    ``python`` is the interpreter (another checkout's virtualenv, with its own packages).
    ``threads``: GUNICORN_THREADS, the quick requests' threads per worker; None leaves the
    checkout's own default."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "STATIC_MANIFEST": "false",
        # The web refuses short or published keys with DEBUG off (numina/startup.py).
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "NUMINA_THROTTLE_USER": "1000000/min",
        "NUMINA_THROTTLE_CHAT": "1000000/min",
        # Rates and budgets are for people: the load would spend a day's tokens in seconds
        # and measure 429s; one loop's concurrent streams would hit the per-user cap.
        "NUMINA_DAILY_TOKEN_BUDGET": "0",
        "NUMINA_MAX_STREAMS_PER_USER": "0",
        "ANTHROPIC_API_KEY": "",  # the offline provider: the benchmark never calls the model
        "NUMINA_BENCHMARK_FLOOR": "true",
        "GUNICORN_ACCESSLOG": "",
        **({"GUNICORN_THREADS": str(threads)} if threads is not None else {}),
        **(extra_env or {}),
    }
    server = subprocess.Popen(
        [
            python,
            "-m",
            "gunicorn",
            "numina.asgi",
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=root,
        env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=1)
        except OSError:
            time.sleep(0.3)
        else:
            return server
    server.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="per scenario, not counted")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many rounds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--only", nargs="*", help="scenario names")
    args = parser.parse_args()

    manifest = json.loads((RESULTS / "dataset.json").read_text())
    data = DataSet(manifest, random.Random(11))
    chosen = {k: v for k, v in scenarios(data).items() if not args.only or k in args.only}
    if data.branch_chats is None:
        print("no branch chats in this data set (generated before them): run benchmarks.generate")
    server = start_server(port=args.port, workers=args.workers, threads=args.threads)
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    try:
        # Rounds of every scenario in turn, and each scenario's median round reported: a
        # 2-core machine shared with the load generator and the databases is noisy.
        for _ in range(args.rounds):
            for name, make in chosen.items():
                drive = functools.partial(
                    run,
                    name=name,
                    host="127.0.0.1",
                    port=args.port,
                    make=make,
                    concurrency=args.concurrency,
                )
                drive(seconds=args.warmup)  # fills caches and connections; not counted
                runs[name].append(drive(seconds=args.seconds, watch=("x-cache",)).summary())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    rows = [sorted(results, key=lambda r: r["rps"])[len(results) // 2] for results in runs.values()]
    for row in rows:
        row["rps_each_round"] = [r["rps"] for r in runs[row["name"]]]
    floor_rps = next((row["rps"] for row in rows if row["name"] == "floor"), None)
    for row in rows:
        row["ratio_to_floor"] = round(row["rps"] / floor_rps, 2) if floor_rps else None
    columns = (
        f"{'scenario':<10} {'req/s':>8} {'x floor':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'server p50':>10} {'requests':>9}"
    )
    header = f"{columns}  statuses, X-Cache"
    print(
        f"data set: {manifest['users']} users, {manifest['conversations']:,} conversations, "
        f"{manifest['messages']:,} messages; gunicorn {args.workers} uvicorn workers "
        f"x {args.threads} threads; "
        f"concurrency {args.concurrency}; median of {args.rounds} rounds of {args.seconds:.0f}s"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row['ratio_to_floor']:.2f}" if row["ratio_to_floor"] is not None else "-"
        print(
            f"{row['name']:<10} {row['rps']:>8.1f} {ratio:>8}"
            f" {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            f" {row['server_p50_ms'] or 0:>10.2f} {row['requests']:>9}"
            f"  {row['statuses']} {row['headers_seen'] or ''}"
        )
    by_name = {row["name"]: row for row in rows}
    ratios = {
        name: round(by_name[tree]["rps"] / by_name[flat]["rps"], 2)
        for name, flat, tree in BRANCH_PAIRS
        if flat in by_name and tree in by_name and by_name[flat]["rps"]
    }
    if ratios:
        print(
            "tree / straight req/s (200 messages, a branch every 10): "
            + ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"api-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "dataset": {k: manifest[k] for k in ("users", "conversations", "messages")},
                "config": vars(args),
                "results": rows,
                "tree_over_straight": ratios,
            },
            indent=2,
        )
    )
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
