"""1,000 open event streams against the production server, and what they cost the rest.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_bench \\
        REDIS_URL=redis://127.0.0.1:6379/2 python -m benchmarks.events_bench

On the generated data set (benchmarks.generate), under gunicorn with uvicorn workers as
production runs (numina/asgi.py), it measures in one run:

1. the list endpoint's req/s with no stream open (the floor of this comparison);
2. the server's resident memory (master + workers, from /proc), then opens ``--streams``
   event streams spread over the data set's users, from a separate process, and reads
   the memory again: what the streams add;
3. the list endpoint's req/s while they are open, as a ratio to (1);
4. commit → event: renames through the API while the streams are open, each timed from
   the moment its answer arrived (the write had committed) and from the moment it was
   sent (an upper bound) to the moment its event arrived on the user's stream; and, as
   the floor of that path, a bare Redis PUBLISH → subscriber round trip on the same
   machine in the same run.

Goals (issue 14): list req/s with streams >= 90 % of without; memory added <= 200 MB;
commit -> event p99 <= 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import statistics
import time
import urllib.request
import uuid
from pathlib import Path

from benchmarks.load import Request, run
from benchmarks.run import RESULTS, DataSet, start_server

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (/proc)."""
    total, pids = 0, [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        pids.extend(int(child) for child in children)
    return total / 1024


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


# --- the streams: a separate process, so its reading never competes with the load ------


async def _open_stream(*, port: int, token: str, arrivals: dict, ready: asyncio.Queue) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /api/v1/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
            "\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = (await reader.readline()).decode()
    if " 200 " not in status:
        await ready.put(status.strip())
        return
    await ready.put("ok")
    # Chunked transfer: read lines and keep the data lines (their JSON has the title).
    while line := await reader.readline():
        if line.startswith(b"data: ") and b'"title":"bench-' in line:
            title = json.loads(line[6:])["title"]
            arrivals.setdefault(title, time.monotonic())


def _streams_process(port: int, tokens: list[str], count: int, pipe) -> None:
    """Opens ``count`` streams on "open", closes them on "close", hands over what arrived
    on "report", ends on "exit"; answers each command when it is done."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        arrivals: dict[str, float] = {}
        tasks: list[asyncio.Task] = []
        while (command := await loop.run_in_executor(None, pipe.recv)) != "exit":
            if command == "open":
                ready: asyncio.Queue = asyncio.Queue()
                tasks = [
                    asyncio.create_task(
                        _open_stream(
                            port=port, token=tokens[i % len(tokens)], arrivals=arrivals, ready=ready
                        )
                    )
                    for i in range(count)
                ]
                outcomes = [await ready.get() for _ in range(count)]
                refused = [outcome for outcome in outcomes if outcome != "ok"]
                pipe.send({"opened": outcomes.count("ok"), "refused": refused[:5]})
            elif command == "close":
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                tasks = []
                pipe.send("closed")
            elif command == "report":
                pipe.send(arrivals)

    asyncio.run(main())


# --- the floor of commit -> event: Redis's own pub/sub round trip ------------------------


def _pubsub_floor(*, redis_url: str, rounds: int) -> list[float]:
    import redis

    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    channel = f"numina:bench:{uuid.uuid4()}"
    pubsub.subscribe(channel)
    pubsub.get_message(timeout=1)
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        client.publish(channel, "x")
        while pubsub.get_message(timeout=1) is None:
            pass
        times.append((time.monotonic() - started) * 1000)
    pubsub.close()
    return times


def _list_rps(*, port: int, data: DataSet, seconds: float, rounds: int, concurrency: int) -> dict:
    def make() -> Request:
        return Request("GET", "/api/v1/conversations/?page_size=20", data.user()[0])

    results = []
    for _ in range(rounds):
        run(
            name="warmup",
            host="127.0.0.1",
            port=port,
            make=make,
            concurrency=concurrency,
            seconds=1,
        )
        results.append(
            run(
                name="list",
                host="127.0.0.1",
                port=port,
                make=make,
                concurrency=concurrency,
                seconds=seconds,
            ).summary()
        )
    return sorted(results, key=lambda r: r["rps"])[len(results) // 2] | {
        "rps_each_round": [r["rps"] for r in results]
    }


def _rename(*, port: int, token: str, conversation: str, title: str) -> tuple[float, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/conversations/{conversation}/",
        data=json.dumps({"title": title}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    sent = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        response.read()
    return sent, time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()

    manifest = json.loads((RESULTS / "dataset.json").read_text())
    data = DataSet(manifest, random.Random(14))
    users = data.users
    tokens = [data.tokens[name] for name in users]
    os.environ["NUMINA_EVENTS_MAX_STREAMS_PER_USER"] = (
        "0"  # the cap is per user; 1,000 is the point
    )
    server = start_server(port=args.port, workers=args.workers, threads=args.threads)
    parent, child = multiprocessing.Pipe()
    streams = multiprocessing.Process(
        target=_streams_process, args=(args.port, tokens, args.streams, child), daemon=True
    )
    streams.start()

    def command(what: str):
        parent.send(what)
        return parent.recv()

    def list_round() -> dict:
        return _list_rps(
            port=args.port, data=data, seconds=args.seconds, rounds=1, concurrency=args.concurrency
        )

    try:
        # Rounds without and with the streams in turn, so both meet the same load of a
        # shared machine; each pair's ratio, and the median of the pairs.
        without, with_streams, pair_ratios, added = [], [], [], []
        for _ in range(args.rounds):
            without.append(list_round())
            rss_before = _rss_mb(server.pid)
            opened = command("open")
            time.sleep(2)  # the workers settle after the burst of connections
            rss_with = _rss_mb(server.pid)
            added.append(rss_with - rss_before)
            with_streams.append(list_round())
            pair_ratios.append(with_streams[-1]["rps"] / without[-1]["rps"])
            if len(pair_ratios) < args.rounds:
                command("close")
                time.sleep(1)

        writes = {}
        for n in range(args.writes):
            name = users[n % len(users)]
            title = f"bench-{uuid.uuid4().hex[:12]}"
            writes[title] = _rename(
                port=args.port,
                token=data.tokens[name],
                conversation=random.Random(n).choice(data.conversations[name]),
                title=title,
            )
        time.sleep(1)  # the last events in flight
        arrivals = command("report")
        command("close")
        parent.send("exit")
    finally:
        streams.join(timeout=10)
        if streams.is_alive():
            streams.kill()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    after_answer = [
        (arrivals[t] - answered) * 1000 for t, (_, answered) in writes.items() if t in arrivals
    ]
    after_send = [(arrivals[t] - sent) * 1000 for t, (sent, _) in writes.items() if t in arrivals]
    floor = _pubsub_floor(
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2"), rounds=args.writes
    )
    report = {
        "streams_opened": opened,
        "list_without_rps_each_round": [r["rps"] for r in without],
        "list_with_rps_each_round": [r["rps"] for r in with_streams],
        "list_without_p50_ms": median([r["p50_ms"] for r in without]),
        "list_with_p50_ms": median([r["p50_ms"] for r in with_streams]),
        "list_ratio_each_round": [round(r, 3) for r in pair_ratios],
        "list_ratio": round(median(pair_ratios), 3),
        "rss_mb_before_last": round(rss_before, 1),
        "rss_mb_with_streams_last": round(rss_with, 1),
        "rss_mb_added_each_round": [round(a, 1) for a in added],
        "events_received": f"{len(after_answer)} of {len(writes)}",
        "commit_to_event_ms": {
            "p50": round(_percentile(after_answer, 50), 2),
            "p99": round(_percentile(after_answer, 99), 2),
            "max": round(max(after_answer), 2) if after_answer else None,
        },
        "send_to_event_ms": {
            "p50": round(_percentile(after_send, 50), 2),
            "p99": round(_percentile(after_send, 99), 2),
        },
        "redis_pubsub_floor_ms": {
            "p50": round(_percentile(floor, 50), 3),
            "p99": round(_percentile(floor, 99), 3),
            "mean": round(statistics.fmean(floor), 3),
        },
    }
    print(
        f"{args.streams} streams ({opened['opened']} opened) on gunicorn {args.workers} uvicorn "
        f"workers x {args.threads} threads; list concurrency {args.concurrency}, median of "
        f"{args.rounds} rounds of {args.seconds:.0f}s"
    )
    print(
        f"list req/s without streams {report['list_without_rps_each_round']} (p50 "
        f"{report['list_without_p50_ms']} ms), with {report['list_with_rps_each_round']} (p50 "
        f"{report['list_with_p50_ms']} ms): ratio per round {report['list_ratio_each_round']}, "
        f"median {report['list_ratio']:.3f}  (goal >= 0.90)"
    )
    print(
        f"server RSS {rss_before:.0f} MB -> {rss_with:.0f} MB with the streams (last round); "
        f"added each round {report['rss_mb_added_each_round']} MB  (goal <= 200 MB)"
    )
    c2e, floor_ms = report["commit_to_event_ms"], report["redis_pubsub_floor_ms"]
    print(
        f"commit -> event ({report['events_received']} events): p50 {c2e['p50']} ms, p99 "
        f"{c2e['p99']} ms, max {c2e['max']} ms  (goal p99 <= 250 ms); request sent -> event "
        f"p50 {report['send_to_event_ms']['p50']} ms, p99 {report['send_to_event_ms']['p99']} ms; "
        f"floor (Redis PUBLISH -> subscriber) p50 {floor_ms['p50']} ms, p99 {floor_ms['p99']} ms"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"events-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"config": vars(args), **report}, indent=2))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
