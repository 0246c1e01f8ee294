"""A reader of /api/v1/events/ for tests: a real HTTP client on a real server (httpx),
parsing server-sent events as the WHATWG EventSource does, in a thread, so a test can
wait for the next event with a deadline."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Event:
    kind: str  # the event type; "" for an id-only block, "comment" for a comment line
    id: str | None  # the last event id after this block
    data: dict | None


class StreamClosed(Exception):
    pass


class EventReader:
    def __init__(self, *, url: str, headers: dict[str, str] | None = None, cookies=None) -> None:
        self._events: queue.Queue[Event | Exception] = queue.Queue()
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=None), cookies=cookies)
        # What EventSource sends.
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **(headers or {})}
        self._context = self._client.stream("GET", url, headers=headers)
        self.response = self._context.__enter__()
        self.status_code = self.response.status_code
        self.last_id: str | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        if self.status_code == 200:
            self._thread.start()

    def _read(self) -> None:
        kind, data, last_id = "", [], None
        try:
            for line in self.response.iter_lines():
                if line == "":
                    payload = json.loads("\n".join(data)) if data else None
                    self._events.put(
                        Event(kind=kind or ("message" if data else ""), id=last_id, data=payload)
                    )
                    kind, data = "", []
                elif line.startswith(":"):
                    self._events.put(Event(kind="comment", id=last_id, data=None))
                else:
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        kind = value
                    elif field == "data":
                        data.append(value)
                    elif field == "id":
                        last_id = value
            self._events.put(StreamClosed())
        except Exception as error:  # noqa: BLE001 (closed by the test or the server: next() raises it)
            self._events.put(error)

    def next(self, *, timeout: float = 10, comments: bool = False) -> Event:
        """The next block (id-only blocks included; comments only if asked)."""
        while True:
            try:
                item = self._events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no event within {timeout} s") from None
            if isinstance(item, Exception):
                raise item
            if item.kind == "comment" and not comments:
                continue
            if item.id is not None:
                self.last_id = item.id
            return item

    def next_event(self, *, timeout: float = 10) -> Event:
        """The next dispatched event (a block with data)."""
        while True:
            event = self.next(timeout=timeout)
            if event.data is not None:
                return event

    def close(self) -> None:
        # Shut the socket first: httpx's close() would wait behind the reading thread,
        # and a client going away must look like one to the server (a FIN, at once).
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._context.__exit__(None, None, None)
        self._client.close()

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
