"""Request bodies are refused before they are read, on the real server (uvicorn on 127.0.0.1), both backends:

- a body to a write route without credentials is a 401 at once, while the client has sent only the headers;
- a declared ``Content-Length`` over the limit is a 413 at once (4 GB announced, nothing sent);
- a chunked body is read only until it passes the limit, then answered with 413, and nothing is stored;
- the login form still takes a body without credentials.

Raw sockets, so the test controls exactly how much of the body has been sent when the answer comes.
"""

from __future__ import annotations

import socket

import pytest
from conftest import ServerThread
from reviewkit import PASSWORD, USERS

from api.app import create_app
from api.settings import Settings
from api.users import add_user

LIMIT_MB = 2.0


@pytest.fixture
def server(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    app = create_app(Settings(data_dir=tmp_path, store_url=store.url, upload_max_mb=LIMIT_MB, max_photo_mb=0.5))
    with ServerThread(app) as srv:
        yield srv


def _token(server) -> str:
    import httpx

    r = httpx.post(server.url + "/auth/token", data={"username": "planner", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(sock: socket.socket) -> int:
    """The status code of the response on ``sock`` (read within the socket's timeout)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(10)
    return sock


MULTIPART = "multipart/form-data; boundary=xyz"


def test_anonymous_upload_is_refused_before_the_body_is_sent(server, store):
    with _connect(server) as sock:
        sock.sendall(_head("/planning/layers", {"Content-Type": MULTIPART, "Content-Length": "1000000000"}))
        assert _status(sock) == 401  # answered with the body (1 GB) still unsent
    with _connect(server) as sock:
        sock.sendall(_head("/alerts/x/photos", {"Content-Type": MULTIPART, "Content-Length": "100"}))
        assert _status(sock) == 401
    assert store.planning_layers() == []


def test_declared_length_over_the_limit_is_413_at_once(server, store):
    token = _token(server)
    for path, length in (("/planning/layers", 4_000_000_000), ("/alerts/x/photos", 3_000_000)):
        with _connect(server) as sock:
            sock.sendall(_head(path, {"Authorization": f"Bearer {token}", "Content-Type": MULTIPART,
                                      "Content-Length": str(length)}))
            assert _status(sock) == 413, path
    assert store.planning_layers() == []


def test_chunked_body_is_cut_once_it_passes_the_limit(server, store):
    token = _token(server)
    chunk = b"x" * (256 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent, status = 0, None
    with _connect(server) as sock:
        sock.sendall(_head("/planning/layers", {"Authorization": f"Bearer {token}", "Content-Type": MULTIPART,
                                                "Transfer-Encoding": "chunked"}))
        part = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.geojson"\r\n'
                b"Content-Type: application/geo+json\r\n\r\n")  # one file part that never ends
        sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sock.settimeout(0.5)
        try:
            while sent < 200 * LIMIT_MB * 1_000_000:  # up to 400 MB, unless the server answers first
                sock.sendall(framed)
                sent += len(chunk)
                try:
                    sock.setblocking(False)
                    peek = sock.recv(1, socket.MSG_PEEK)
                except BlockingIOError:
                    peek = b""
                finally:
                    sock.settimeout(0.5)
                if peek:
                    break
        except OSError:  # the server closed the connection after answering
            pass
        sock.settimeout(10)
        status = _status(sock)
    assert status == 413
    assert sent < 20 * LIMIT_MB * 1_000_000  # stopped near the limit (socket buffers aside), not at 400 MB
    assert store.planning_layers() == []


def test_login_form_needs_no_credentials(server):
    import httpx

    r = httpx.post(server.url + "/auth/token", data={"username": "planner", "password": "wrong"})
    assert r.status_code == 401 and "bearer" in r.headers["www-authenticate"].lower()
    assert _token(server)
