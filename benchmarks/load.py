"""A small asyncio HTTP/1.1 load client (standard library only), loopback only.

It keeps ``concurrency`` connections busy for ``seconds`` and records each request's
latency; every run is bounded in time and stops by itself. Written by hand because it
needs nothing installed, reuses keep-alive connections, and varies every request
(another user, another conversation) from a Python callable.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str
    body: dict | None = None


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # from the Server-Timing header
    statuses: dict[int, int] = field(default_factory=dict)
    headers_seen: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def summary(self) -> dict:
        return {
            "name": self.name,
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2)
            if self.latencies
            else None,
            "server_p50_ms": round(statistics.median(self.server_ms), 2)
            if self.server_ms
            else None,
            "statuses": self.statuses,
            "headers_seen": self.headers_seen,
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in {b"\r\n", b""}:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readline()).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readline()
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


def _encode(request: Request, host: str) -> bytes:
    body = json.dumps(request.body).encode() if request.body is not None else b""
    head = (
        f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {request.token}\r\nAccept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _worker(
    host: str,
    port: int,
    make: Callable[[], Request],
    deadline: float,
    result: Result,
    watch: tuple[str, ...],
) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        request = make()
        started = time.perf_counter()
        try:
            writer.write(_encode(request, host))
            await writer.drain()
            status, headers = await _read_response(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            reader = writer = None
            continue
        result.latencies.append(time.perf_counter() - started)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        timing = headers.get("server-timing", "")
        if "dur=" in timing:
            result.server_ms.append(float(timing.split("dur=")[1].split(";")[0].split(",")[0]))
        for name in watch:
            if name in headers:
                key = f"{name}: {headers[name]}"
                result.headers_seen[key] = result.headers_seen.get(key, 0) + 1
        if headers.get("connection", "").lower() == "close":
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run(
    *,
    name: str,
    host: str,
    port: int,
    make: Callable[[], Request],
    seconds: float,
    concurrency: int,
    watch: tuple[str, ...] = (),
) -> Result:
    if host not in LOOPBACK:
        raise ValueError("load is only ever sent to this machine's loopback")
    result = Result(name=name, seconds=seconds)

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_worker(host, port, make, deadline, result, watch) for _ in range(concurrency))
        )

    started = time.perf_counter()
    asyncio.run(main())
    result.seconds = time.perf_counter() - started
    return result
