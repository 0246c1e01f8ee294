"""Measures files under the production server: a 20 MB upload, the server's memory during
it, and the time to first byte of a chat with one image.

    python -m benchmarks.files_bench [--size 20000000] [--rounds 3]

In its own database (numina_filesbench unless DATABASE_URL names another) and a temporary
NUMINA_FILES_ROOT: gunicorn as benchmarks/run.py starts it (uvicorn workers, DEBUG off,
the offline provider, NUMINA_BENCHMARK_FLOOR on). Printed, each the median of
``--rounds`` runs, beside a floor measured in the same run:

- the upload of a ``--size`` text file through POST /api/v1/files/ (streamed to disk,
  SHA-256, UTF-8 checked, stored) against the floor: the same body to a bare DRF
  multipart view with Django's default handlers (benchmarks/floor.py);
- the server's resident memory (master + workers, /proc VmRSS every 50 ms) at its peak
  during the upload, above idle: the goal is under 20 MB, since nothing holds the file;
- the time to the first byte of a streamed POST /api/v1/chat/ with one 640x480 PNG
  attached, against the same chat without it (the floor).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import secrets
import signal
import statistics
import tempfile
import time
import uuid

DATABASE = "numina_filesbench"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DATABASE}")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

# export_bench creates the database DATABASE_URL names when it is missing and sets Django
# up on it; its memory sampler is the one this benchmark reads too.
from benchmarks.export_bench import RssSampler, server_rss_kib  # noqa: E402
from benchmarks.run import start_server  # noqa: E402

BOUNDARY = "numina-files-bench"


def multipart(name: str, data: bytes, content_type: str) -> bytes:
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def post(port: int, path: str, body: bytes, token: str, content_type: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(
        "POST",
        path,
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    return connection, connection.getresponse()


def timed_upload(port: int, path: str, body: bytes, token: str) -> float:
    started = time.perf_counter()
    connection, response = post(
        port, path, body, token, f"multipart/form-data; boundary={BOUNDARY}"
    )
    answer = response.read()
    seconds = time.perf_counter() - started
    connection.close()
    assert response.status == 201, (response.status, answer[:300])
    return seconds


def first_byte(port: int, token: str, attachments: list[str]) -> float:
    body = json.dumps(
        {"message": "What is in this picture?", "attachments": attachments, "stream": True}
    ).encode()
    started = time.perf_counter()
    connection, response = post(port, "/api/v1/chat/", body, token, "application/json")
    response.read(1)
    seconds = time.perf_counter() - started
    assert response.status == 200, response.status
    response.read()
    connection.close()
    return seconds


def setup() -> str:
    from django.core.management import call_command

    from accounts.models import User
    from accounts.services import issue_token

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username=f"filesbench-{uuid.uuid4().hex[:8]}")
    return issue_token(user=user, device_name="files-bench")[0]


def png_640x480() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000_000, help="bytes of the upload")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8798)
    args = parser.parse_args()

    token = setup()
    line = b"The quick brown fox jumps over the lazy dog, 0123456789.\n"
    text = (line * (args.size // len(line) + 1))[: args.size]
    body = multipart("big.txt", text, "text/plain")
    with tempfile.TemporaryDirectory() as root:
        os.environ["NUMINA_FILES_ROOT"] = root
        os.environ["NUMINA_FILE_QUOTA_BYTES"] = str(100 * args.size * args.rounds)
        server = start_server(port=args.port, workers=1, threads=4)
        try:
            # The worker has served requests and loaded the whole app before idle is read.
            for _ in range(3):
                timed_upload(
                    args.port, "/bench/floor/upload/", multipart("w.txt", b"w", "text/plain"), token
                )
            idle = RssSampler(server.pid)
            idle.start()
            time.sleep(1.0)
            idle.stop()
            uploads, floors, peaks = [], [], []
            for _ in range(args.rounds):
                floors.append(timed_upload(args.port, "/bench/floor/upload/", body, token))
                sampler = RssSampler(server.pid)
                sampler.start()
                uploads.append(timed_upload(args.port, "/api/v1/files/", body, token))
                sampler.stop()
                peaks.append(sampler.peak)
            image = multipart("photo.png", png_640x480(), "image/png")
            connection, response = post(
                args.port,
                "/api/v1/files/",
                image,
                token,
                f"multipart/form-data; boundary={BOUNDARY}",
            )
            image_id = json.loads(response.read())["id"]
            connection.close()
            first_byte(args.port, token, [])  # warm
            with_image, without = [], []
            for _ in range(max(args.rounds, 5)):
                without.append(first_byte(args.port, token, []))
                with_image.append(first_byte(args.port, token, [f"file:{image_id}"]))
            after = server_rss_kib(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    upload, floor = statistics.median(uploads), statistics.median(floors)
    mb = args.size / 1e6
    peak_above_idle = (max(peaks) - idle.peak) / 1024
    ttfb, ttfb_floor = statistics.median(with_image), statistics.median(without)
    print(f"upload of a {mb:.0f} MB text file, median of {args.rounds}")
    print(f"  POST /api/v1/files/        {upload:.3f}s = {mb / upload:.1f} MB/s")
    print(f"  floor (bare DRF multipart) {floor:.3f}s = {mb / floor:.1f} MB/s")
    print(f"  ratio to the floor         {upload / floor:.2f}x")
    print(
        f"  server RSS: idle {idle.peak / 1024:.1f} MB, peak during upload "
        f"{max(peaks) / 1024:.1f} MB (+{peak_above_idle:.1f} MB; goal < 20 MB), "
        f"after {after / 1024:.1f} MB"
    )
    print("time to first byte of a streamed chat (offline provider), median")
    print(f"  with one 640x480 PNG       {ttfb * 1000:.1f} ms")
    print(f"  floor (no attachment)      {ttfb_floor * 1000:.1f} ms")
    print(f"  ratio to the floor         {ttfb / ttfb_floor:.2f}x")


if __name__ == "__main__":
    main()
