"""The hot reads under wrk, one checkout beside another in one run (issue 19).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_hot REDIS_URL=redis://… \\
        python -m benchmarks.wrk_bench --checkout /path/to/before --checkout .

For each checkout in turn (alternating, ``--rounds`` times, so drift on a shared machine
falls on both alike) gunicorn serves it as production does (``benchmarks.run``'s
``start_server``: uvicorn workers, DEBUG off, the throttles' rates out of the way), and
wrk (Debian's; C, so the load takes less of the 2 cores than a Python client would)
drives each endpoint for ``--seconds`` with ``-t2 -c8``, after an uncounted warm-up.
Printed per endpoint and checkout: the median round's req/s, p50 and p99 (wrk's
``--latency``), the p99 / p50, the server's CPU time per request (master and workers,
from /proc: steadier than req/s where the machine is shared), and the req/s as a ratio
to the first checkout's and to the floor (``benchmarks/floor.py``, a bare DRF list)
served by the same checkout in the same round. The Redis database of REDIS_URL is
emptied before each server starts. The data set is the one ``benchmarks.generate``
wrote (its manifest in ``benchmarks/results/dataset.json``: tokens and conversation
ids).

The endpoints, as the phone and the browser call them:
- ``list60``: a page of 60 conversations (``?page_size=60``: never cached);
- ``list-cached``: the default first page, served from Redis after the first request;
- ``retrieve``: a conversation with its newest messages, asked with an explicit window
  (``?messages=20``), so PostgreSQL every time; a random one of the user's 10,000;
- ``retrieve-cached``: the default retrieve of five recent conversations (Redis);
- ``messages``: a random conversation's messages (first page);
- ``sync`` and ``context``: the other reads a client makes all day;
- ``floor``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import redis

from benchmarks.run import RESULTS, ROOT, start_server

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Served:
    """A checkout and the settings it is served with (one column of the comparison)."""

    root: Path
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Served:
        path, _, settings = text.partition("@")
        pairs = [item.split("=", 1) for item in settings.split(",") if item]
        return cls(Path(path).resolve(), tuple((name, value) for name, value in pairs))

    @property
    def label(self) -> str:
        return self.root.name + "".join(f" {name}={value}" for name, value in self.env)


def endpoints(manifest: dict) -> dict[str, list[str]]:
    """Each endpoint's paths; wrk picks one at random per request."""
    name = sorted(manifest["tokens"])[0]
    ids = manifest["conversation_ids"][name]
    recent = ids[:5]
    sample = ids[:: max(1, len(ids) // 2000)]  # up to 2,000 of them, spread
    return {
        "list60": ["/api/v1/conversations/?page_size=60"],
        "list-cached": ["/api/v1/conversations/"],
        "retrieve": [f"/api/v1/conversations/{c}/?messages=20" for c in sample],
        "retrieve-cached": [f"/api/v1/conversations/{c}/" for c in recent],
        "messages": [f"/api/v1/conversations/{c}/messages/" for c in sample],
        "sync": ["/api/v1/sync/"],
        "context": [f"/api/v1/conversations/{c}/context/" for c in sample],
        "floor": ["/bench/floor/"],
    }


def lua_script(*, token: str, paths: list[str]) -> str:
    quoted = ",\n".join(json.dumps(path) for path in paths)
    return f"""
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Accept"] = "application/json"
local paths = {{
{quoted}
}}
math.randomseed(os.time())
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def parse(output: str) -> dict:
    """req/s, p50 and p99 (ms) and the request and error counts from wrk's report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rps,
        "p50": _ms(latency["50"]),
        "p99": _ms(latency["99"]),
        "requests": requests,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the gunicorn master ``pid`` and its workers have used:
    steadier than req/s on a shared machine, since time the server waits for a core is
    not counted."""
    ticks = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0.0
    for process in [str(pid), *children]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def drive(
    *, port: int, script: Path, seconds: float, threads: int, connections: int, pid: int
) -> dict:
    cpu_before = server_cpu_seconds(pid)
    done = subprocess.run(
        [
            shutil.which("wrk") or "/usr/bin/wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = parse(done.stdout)
    result["cpu_ms"] = (server_cpu_seconds(pid) - cpu_before) * 1000 / max(result["requests"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkout",
        action="append",
        type=Served.parse,
        help=(
            "a checkout to serve (repeat: the first is the baseline), PATH or "
            "PATH@NAME=VALUE,NAME=VALUE to serve it with those environment settings "
            "(PYTHON=…: the interpreter, e.g. the checkout's own virtualenv's); default this one"
        ),
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2, help="wrk's -t")
    parser.add_argument("--connections", type=int, default=8, help="wrk's -c")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--server-threads",
        type=int,
        default=None,
        help="GUNICORN_THREADS for every checkout (default: each checkout's own default)",
    )
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--only", nargs="*", help="endpoint names")
    args = parser.parse_args()

    checkouts: list[Served] = args.checkout or [Served(ROOT)]
    manifest = json.loads((RESULTS / "dataset.json").read_text())
    token = manifest["tokens"][sorted(manifest["tokens"])[0]]
    chosen = {
        name: paths
        for name, paths in endpoints(manifest).items()
        if not args.only or name in args.only or name == "floor"
    }
    scripts = Path(tempfile.mkdtemp(prefix="numina-wrk-"))
    for name, paths in chosen.items():
        (scripts / f"{name}.lua").write_text(lua_script(token=token, paths=paths))

    runs: dict[tuple[str, Served], list[dict]] = {}
    for _ in range(args.rounds):
        for checkout in checkouts:
            # Each server starts from an empty Redis database: a checkout must not inherit
            # the throttle history or the cached answers of the one before it (DRF's
            # throttle kept a history of every request in the window, so at the
            # benchmark's 1,000,000/min it would grow through the whole run).
            if os.environ.get("REDIS_URL"):
                redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
            server = start_server(
                port=args.port,
                workers=args.workers,
                threads=args.server_threads,
                root=checkout.root,
                extra_env={k: v for k, v in checkout.env if k != "PYTHON"},
                python=dict(checkout.env).get("PYTHON", sys.executable),
            )
            try:
                for name in chosen:
                    script = scripts / f"{name}.lua"
                    common = {
                        "port": args.port,
                        "script": script,
                        "threads": args.threads,
                        "connections": args.connections,
                        "pid": server.pid,
                    }
                    drive(seconds=args.warmup, **common)
                    runs.setdefault((name, checkout), []).append(
                        drive(seconds=args.seconds, **common)
                    )
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)

    def median(name: str, checkout: Served) -> dict:
        results = runs[name, checkout]
        row = dict(sorted(results, key=lambda r: r["rps"])[len(results) // 2])
        row["rps_each_round"] = [round(r["rps"]) for r in results]
        row["p99_over_p50"] = statistics.median(r["p99"] / r["p50"] for r in results)
        row["cpu_ms"] = statistics.median(r["cpu_ms"] for r in results)
        return row

    print(
        f"wrk -t{args.threads} -c{args.connections}, {args.rounds} x {args.seconds:g} s "
        f"per endpoint and checkout (medians), gunicorn {args.workers} workers x "
        f"{args.server_threads or 'default'} quick threads; "
        f"{manifest.get('messages', '?'):,} messages"
    )
    header = (
        f"{'endpoint':<16} {'checkout':<30} {'req/s':>8} {'rounds':>20} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'p99/p50':>7} {'x first':>7} {'x floor':>7} {'cpu ms':>7} "
        f"{'cpu x1st':>8} {'non-2xx':>7}"
    )
    print(header)
    summary = []
    for name in chosen:
        first = median(name, checkouts[0])
        for checkout in checkouts:
            row = median(name, checkout)
            floor = median("floor", checkout)
            row |= {
                "endpoint": name,
                "checkout": checkout.label,
                "x_first": row["rps"] / first["rps"],
                "x_floor": row["rps"] / floor["rps"],
                "cpu_x_first": row["cpu_ms"] / first["cpu_ms"],
            }
            summary.append(row)
            rounds = "/".join(str(n) for n in row["rps_each_round"])
            print(
                f"{name:<16} {checkout.label[:30]:<30} {row['rps']:>8.0f} {rounds:>20} "
                f"{row['p50']:>7.2f} {row['p99']:>7.2f} {row['p99_over_p50']:>7.2f} "
                f"{row['x_first']:>7.2f} {row['x_floor']:>7.2f} {row['cpu_ms']:>7.2f} "
                f"{row['cpu_x_first']:>8.2f} {row['non_2xx']:>7}"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "wrk_bench.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
