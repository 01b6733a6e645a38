"""What the weekly job's tests share: a real SMTP server (aiosmtpd) and a webhook receiver on 127.0.0.1, a
watched folder of small scenes with one clearing, and the environment that points the job at them."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from conftest import free_port, write_scene

WEEK = "2024-W10"                       # 4-10 March 2024: the clearing is first seen on 5 March
CLEARING = (slice(10, 30), slice(20, 40))  # 20 x 20 px = 4 ha, in Huyện Đam Rông (674)
UNIT = "674"


def watched_folder(folder: Path, extra: int = 0) -> Path:
    """Two small scenes (forest in January, a 4 ha clearing on 5 March 2024) and ``extra`` (at most 60) clear scenes
    before."""
    folder.mkdir(parents=True, exist_ok=True)
    write_scene(folder / "a_20240105.tif", date(2024, 1, 5))
    for i in range(extra):  # every other day from 1 September 2023
        day = date(2023, 9, 1) + timedelta(days=2 * i)
        write_scene(folder / f"x_{day:%Y%m%d}.tif", day)
    write_scene(folder / "b_20240305.tif", date(2024, 3, 5), bare=CLEARING)
    return folder


class Mailbox:
    """The messages an SMTP server received; with ``hold`` set, it keeps each sender waiting after the data has
    arrived (before answering 250) until ``release`` is set."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.hold = False
        self.received = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.received.set()
        while self.hold and not self.release.is_set():
            await asyncio.sleep(0.05)
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.mailbox.release.set()
        self.controller.stop()


class WebhookReceiver:
    """An HTTP server that answers POSTs with the statuses of ``answers`` in turn (then 200), checks each body's
    HMAC-SHA256 signature under ``secret``, and keeps what it accepted."""

    def __init__(self, secret: str, answers: tuple[int, ...] = ()) -> None:
        self.secret = secret
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers.get("X-Forestmon-Signature", ""))
                status = receiver.answers.pop(0) if receiver.answers else 200
                status = status if valid else 401
                receiver.requests.append({"status": status, "valid": valid})
                if status == 200:
                    receiver.accepted.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()


def job_env(data_dir: Path, store_url: str, watch: Path, smtp_port: int) -> dict[str, str]:
    """The environment of a weekly job reading ``watch`` and mailing through the test SMTP server."""
    return {"FORESTMON_DATA_DIR": str(data_dir), "FORESTMON_STORE_URL": store_url, "FORESTMON_WATCH_DIR": str(watch),
            "FORESTMON_SMTP_HOST": "127.0.0.1", "FORESTMON_SMTP_PORT": str(smtp_port),
            "FORESTMON_SMTP_STARTTLS": "false", "FORESTMON_SMTP_FROM": "forestmon@test.invalid",
            "FORESTMON_WEBHOOK_BACKOFF_S": "0.05", "FORESTMON_SH_CLIENT_ID": "", "FORESTMON_SH_CLIENT_SECRET": ""}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
