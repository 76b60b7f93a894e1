"""Bodies are counted as they arrive: an endless chunked body is cut off at the limit, before
any token or sign-in is looked at, on the real server (uvicorn), API and console alike."""
from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

CHUNK = b"x" * 16384
LIMIT = 256 * 1024          # API_MAX_BODY_BYTES default


def send_endless_chunked(url: str, path: str, content_type: str, give_up_after: int = 40 * 1024 * 1024) -> tuple[bytes, int]:
    """POST a chunked body that never ends; return the response start and the bytes sent by then."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Type: {content_type}\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    sent, answer = 0, b""
    sock.setblocking(False)
    try:
        while sent < give_up_after:
            try:
                answer += sock.recv(65536)
                if b"\r\n\r\n" in answer:
                    break
            except BlockingIOError:
                pass
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                sent += len(CHUNK)
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                time.sleep(0.05)
            except ConnectionResetError:
                break
    finally:
        sock.close()
    return answer, sent


@pytest.mark.parametrize("path, content_type", [
    ("/api/bookings", "application/json"),              # the service API, no token sent
    ("/login", "application/x-www-form-urlencoded"),    # the console, nobody signed in
])
def test_an_endless_chunked_body_is_refused_at_the_limit(api_url, path, content_type):
    answer, sent = send_endless_chunked(api_url, path, content_type)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # What was sent includes the loopback socket buffers (a few MiB); reading the body whole
    # would have taken all 40 MiB.
    assert sent < 16 * 1024 * 1024, f"{sent} bytes were taken before the refusal"


def test_a_declared_length_over_the_limit_is_refused_before_it_is_sent(api_url):
    parts = urlsplit(api_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"POST /api/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {50 * 1024 * 1024}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
