"""Hostile request headers against a running Numina (called by .ci/schemathesis).

Schemathesis generates bodies and parameters from the schema; the headers every request
carries (Authorization, Cookie, X-Forwarded-For, Content-Type, Accept, Host) it leaves alone.
Each request here carries one malformed header and must get an answer below 500: a client
error, or the header ignored. Bytes that are not UTF-8 are sent as they are (http.client
writes header values given as bytes unchanged), as a broken client or an attacker would.

Usage: python .ci/hostile_headers.py http://127.0.0.1:PORT TOKEN
"""

import http.client
import json
import sys
from urllib.parse import urlsplit

# Under gunicorn's own limit for one header line (8190 bytes), so that Django sees them.
LONG = 8000

HOSTILE = [
    # (what, method, path, header name, header value)
    (
        "non-UTF-8 bearer token",
        "GET",
        "/api/v1/conversations/",
        "Authorization",
        b"Bearer \xff\xfe\x80\xc3(",
    ),
    (
        "overlong bearer token",
        "GET",
        "/api/v1/conversations/",
        "Authorization",
        "Bearer " + "a" * LONG,
    ),
    ("bearer with no token", "GET", "/api/v1/me/", "Authorization", "Bearer"),
    ("basic with junk", "GET", "/api/v1/me/", "Authorization", b"Basic \xff==="),
    ("huge session cookie", "GET", "/api/v1/conversations/", "Cookie", "sessionid=" + "x" * LONG),
    ("non-UTF-8 cookies", "GET", "/", "Cookie", b"csrftoken=\xff\xfe; sessionid=\x80"),
    (
        "cookie junk on a POST",
        "POST",
        "/api/v1/chat/",
        "Cookie",
        "csrftoken=;;;==;sessionid=" + "%" * 100,
    ),
    (
        "X-Forwarded-For garbage",
        "GET",
        "/api/v1/conversations/",
        "X-Forwarded-For",
        b"\xff, ::::, 999.1.1.1, <script>, " + b"1" * 2000,
    ),
    (
        "X-Forwarded-For garbage on sign-in",
        "POST",
        "/api/v1/auth/token/",
        "X-Forwarded-For",
        "not-an-address, , ,",
    ),
    (
        "charset junk in Content-Type",
        "POST",
        "/api/v1/chat/",
        "Content-Type",
        b"application/json; charset=\xff-junk",
    ),
    (
        "unknown charset",
        "POST",
        "/api/v1/chat/",
        "Content-Type",
        "application/json; charset=utf-4000",
    ),
    (
        "charset junk on sign-in",
        "POST",
        "/api/v1/auth/token/",
        "Content-Type",
        'application/json; charset=;;;boundary=""',
    ),
    (
        "form charset junk",
        "POST",
        "/accounts/login/",
        "Content-Type",
        "application/x-www-form-urlencoded; charset=x-junk",
    ),
    ("Accept with a bad q", "GET", "/api/v1/conversations/", "Accept", "*/*;q=abc"),
    (
        "Accept with NaN q",
        "GET",
        "/api/v1/conversations/",
        "Accept",
        "application/json;q=nan, text/html;q=-1",
    ),
    ("Accept junk on a page", "GET", "/accounts/login/", "Accept", b"\xff/\xfe;q=abc"),
    (
        "Accept junk on the export",
        "GET",
        "/api/v1/conversations/x/export/",
        "Accept",
        "text/markdown;q=abc;;",
    ),
    ("Host junk", "GET", "/api/v1/conversations/", "Host", b"\xff\xfe:99999"),
    ("X-Request-ID junk", "GET", "/healthz", "X-Request-ID", b"\xff" * 300),
    (
        "Accept-Language junk",
        "GET",
        "/accounts/login/",
        "Accept-Language",
        "*;q=abc, zz-ZZZZZZZZZZ;q=2, " + "x" * 2000,
    ),
]


def send(*, base: str, token: str, method: str, path: str, name: str, value) -> int:
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = json.dumps({"message": "hostile headers", "username": "x", "password": "y"})
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    headers = {
        "Host": f"{url.hostname}:{url.port}",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    headers[name] = value
    for header, header_value in headers.items():
        connection.putheader(header, header_value)
    payload = body.encode() if method == "POST" else b""
    connection.putheader("Content-Length", str(len(payload)))
    connection.endheaders(payload)
    status = connection.getresponse().status
    connection.close()
    return status


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    server_errors = 0
    for what, method, path, name, value in HOSTILE:
        status = send(base=base, token=token, method=method, path=path, name=name, value=value)
        server_errors += status >= 500
        print(f"{'FAIL' if status >= 500 else 'ok  '} {status} {method} {path}  {what}")
    print(f"hostile headers: {server_errors} of {len(HOSTILE)} requests got a server error")
    return 1 if server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
