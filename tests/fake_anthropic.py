"""A loopback fake of Anthropic's Messages API for the tests.

A threaded ``http.server`` on 127.0.0.1 at a random port. It records every request
(path, headers, JSON body) and answers from a script: each request takes the next
scripted answer, and once the script is used up, the ``default`` answer. Answers are
small objects: ``Reply`` (a message), ``Fail`` (an error status), ``Hang`` (sleep past
the client's timeout), ``Stream`` (server-sent events in the real Messages API format;
``fail_after`` ends it cleanly before ``message_stop``, ``break_after`` cuts the
connection in the middle of an HTTP chunk, which the client sees as a transport error)
``Gate`` (wait for a test's signal, then answer) and ``ToolUse`` (a forced tool call's
answer; requests that offer tools take theirs from ``tool_script`` / ``tool_default``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count

MODEL = "claude-test-model"
_ids = count(1)


def message_body(text: str, *, input_tokens: int = 11, output_tokens: int = 7) -> dict:
    return {
        "id": f"msg_fake_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


@dataclass
class Reply:
    text: str = "Hello from the fake Claude."
    input_tokens: int = 11
    output_tokens: int = 7

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        _send_json(
            handler,
            200,
            message_body(
                self.text, input_tokens=self.input_tokens, output_tokens=self.output_tokens
            ),
        )


@dataclass
class ToolUse:
    """A forced tool call's answer: one ``tool_use`` block with this input (any JSON, so
    a test can send what the schema forbids)."""

    input: object
    name: str = "record_memory"
    input_tokens: int = 11
    output_tokens: int = 7

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        body = message_body("", input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        body["content"] = [
            {
                "type": "tool_use",
                "id": f"toolu_fake_{next(_ids)}",
                "name": self.name,
                "input": self.input,
            }
        ]
        body["stop_reason"] = "tool_use"
        _send_json(handler, 200, body)


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Fail:
    status: int

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        body = {
            "type": "error",
            "error": {"type": ERROR_TYPES.get(self.status, "api_error"), "message": "fake"},
        }
        # A short Retry-After keeps the SDK's own retries fast in tests.
        _send_json(handler, self.status, body, headers={"retry-after-ms": "10"})


@dataclass
class Hang:
    seconds: float = 3.0

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        time.sleep(self.seconds)
        with contextlib.suppress(OSError):  # the client gave up, as intended
            Reply("too late").send(handler)


@dataclass
class Gate:
    """Holds the request until ``release`` is set; ``entered`` tells the test it arrived."""

    answer: object
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        self.entered.set()
        self.release.wait(timeout=30)
        self.answer.send(handler)


@dataclass
class Stream:
    chunks: Iterable[str] = ("Hel", "lo ", "there", ".")
    input_tokens: int = 13
    output_tokens: int = 5
    fail_after: int | None = None  # end the body cleanly after this many deltas
    # Chunked transfer encoding, and the connection dropped halfway through the chunk
    # after this many deltas: httpx raises RemoteProtocolError mid-reply.
    break_after: int | None = None
    pause: float = 0.0  # seconds between deltas: a reply that takes its time

    def events(self) -> list[tuple[str, dict]]:
        start = message_body("", input_tokens=self.input_tokens, output_tokens=1)
        start.update(content=[], stop_reason=None)
        events = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            ("ping", {"type": "ping"}),
        ]
        events += [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": chunk},
                },
            )
            for chunk in self.chunks
        ]
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        chunked = self.break_after is not None
        if chunked:
            handler.send_header("transfer-encoding", "chunked")
        # Otherwise no length and no chunking: the end of the body is the end of the
        # connection.
        handler.send_header("connection", "close")
        handler.close_connection = True
        handler.end_headers()
        deltas = 0
        for name, data in self.events():
            raw = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            if name == "content_block_delta":
                if self.fail_after is not None and deltas >= self.fail_after:
                    return
                if chunked and deltas >= self.break_after:
                    # Announce a chunk, send half of it, and hang up.
                    handler.wfile.write(f"{len(raw):x}\r\n".encode() + raw[: len(raw) // 2])
                    handler.wfile.flush()
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    return
                deltas += 1
                time.sleep(self.pause)
            handler.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n" if chunked else raw)
            handler.wfile.flush()
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")


def _send_json(handler, status: int, body: dict, headers: dict | None = None) -> None:
    raw = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(raw)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(raw)


@dataclass
class Recorded:
    path: str
    headers: dict
    body: dict


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: list[object] = []
        self.default: object = Reply()
        # Requests that offer tools (memory extraction) take their answers from here, so a
        # test scripts chat replies and extraction answers independently.
        self.tool_script: list[object] = []
        self.tool_default: object = ToolUse({"facts": []})
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    fake.requests.append(Recorded(self.path, headers, body))
                    if "tools" in body:
                        answer = fake.tool_script.pop(0) if fake.tool_script else fake.tool_default
                    else:
                        answer = fake.script.pop(0) if fake.script else fake.default
                answer.send(self)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *answers: object) -> None:
        """Script the next answers, in order."""
        with self._lock:
            self.script.extend(answers)

    def answer_tools(self, *answers: object) -> None:
        """Script the next answers to requests that offer tools, in order."""
        with self._lock:
            self.tool_script.extend(answers)

    @property
    def bodies(self) -> list[dict]:
        return [request.body for request in self.requests]

    def start(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
