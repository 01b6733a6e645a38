"""Sending a week's report to one subscription: an e-mail through SMTP (the report's HTML as the body, its files
attached) or a JSON POST to a webhook signed with HMAC-SHA256 of the body under the subscription's secret.

Whether to send at all is the outbox's decision (``geo.workflow.subscriptions``); this module only sends, with
retries and backoff for webhooks on 5xx answers and connection errors, and says how it went. The SMTP password is
read from the settings and never written anywhere.
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import json
import logging
import mimetypes
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from api.settings import Settings
from geo.store.sql import redact
from maps.report.weekly import reports_for_week
from maps.strings import mail_strings

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Forestmon-Signature"
REPORT_SUFFIXES = (".html", ".pdf")
# Python's header folding drops the space between two RFC 2047 encoded words ("– Huyện" arrives as "–Huyện"):
# headers are written unfolded (lines up to RFC 5322's 998 characters), so a Vietnamese subject arrives intact.
HEADERS_UNFOLDED = email.policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Summary:
    """What a delivery says about the week in one unit (or the province)."""

    week: str
    start: str
    end: str
    unit_id: str | None
    unit: str               # the unit's name, or the province's
    alerts: int
    area_ha: float
    files: tuple[Path, ...]  # the report's files for this unit (HTML, and PDF when made)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    attempts: int
    error: str | None = None


def report_files(reports_dir: Path, week: str, unit_id: str | None, lang: str | None = None) -> tuple[Path, ...]:
    """The week's report of a unit (None: the province) as ``forestmon report`` wrote it (HTML and PDF), in
    ``lang`` when written in it, else in the language it was written in; the province's when the unit has none."""
    written = reports_for_week(reports_dir, week)
    for wanted in (unit_id, None):
        mine = [r for r in written if r.unit_id == wanted]
        pick = next((r for r in mine if r.lang == lang), mine[0] if mine else None)
        if pick is not None:
            return tuple(p for p in (pick.html, pick.pdf) if p.is_file())
    return ()


def _number(value: float, lang: str, decimals: int = 1) -> str:
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",") if lang == "vi" else text


def compose_email(settings: Settings, summary: Summary, to: str, lang: str) -> EmailMessage:
    """The e-mail of a week's report in ``lang``: subject and a short text with the figures, the report's HTML as
    the HTML body, and every report file attached."""
    words = mail_strings(lang)
    values = {"week": summary.week, "start": summary.start, "end": summary.end, "unit": summary.unit,
              "alerts": summary.alerts, "area_ha": _number(summary.area_ha, lang)}
    msg = EmailMessage(policy=HEADERS_UNFOLDED)
    msg["Subject"] = words["subject"].format(**values)
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Message-ID"] = make_msgid(domain="forestmon")
    lines = [words["body"].format(**values)]
    if settings.public_url:
        lines.append(words["link"].format(url=f"{settings.public_url.rstrip('/')}/reports/"))
    if not summary.files:
        lines.append(words["no_report"])
    lines.append(words["footer"])
    msg.set_content("\n\n".join(lines))
    html = next((p for p in summary.files if p.suffix == ".html"), None)
    if html is not None:
        msg.add_alternative(html.read_text(encoding="utf-8"), subtype="html")
    for path in summary.files:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = kind.split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return msg


def send_email(settings: Settings, msg: EmailMessage) -> Outcome:
    """Hand the message to the SMTP server (TLS and login as set). One try: the server's queue does the retrying,
    and a second try after an unclear end could deliver twice."""
    if not settings.smtp_host:
        return Outcome(False, 0, "no SMTP server configured (FORESTMON_SMTP_HOST)")
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        if settings.smtp_ssl:
            server = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s)
        with server:
            if settings.smtp_starttls and not settings.smtp_ssl:
                server.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                server.login(settings.smtp_user, password or "")
            server.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(False, 1, redact(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {exc}", password))
    return Outcome(True, 1)


def webhook_body(summary: Summary, lang: str, settings: Settings) -> bytes:
    """The JSON a webhook receives: the week, the unit, its figures and the report's files (names, and URLs when
    the app's public address is set)."""
    base = settings.public_url.rstrip("/") if settings.public_url else None
    files = [{"name": p.name, "url": f"{base}/reports/{p.name}" if base else None} for p in summary.files]
    return json.dumps({"event": "weekly_report", "week": summary.week, "start": summary.start, "end": summary.end,
                       "unit_id": summary.unit_id, "unit": summary.unit, "lang": lang,
                       "alerts": summary.alerts, "area_ha": round(summary.area_ha, 2), "files": files},
                      ensure_ascii=False, sort_keys=True).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_webhook(settings: Settings, url: str, secret: str, body: bytes, delivery_id: str,
                 sleep=time.sleep) -> Outcome:
    """POST the body with its signature; retry 5xx answers and connection errors with doubling waits, up to
    ``settings.webhook_attempts`` tries; a 4xx is final."""
    wait = settings.webhook_backoff_s
    error = None
    for attempt in range(1, settings.webhook_attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: signature(secret, body),
            "X-Forestmon-Delivery": delivery_id, "User-Agent": "forestmon"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                if answer.status < 300:
                    return Outcome(True, attempt)
                return Outcome(False, attempt, f"HTTP {answer.status} from {url}")
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} from {url}"
            if exc.code < 500:
                return Outcome(False, attempt, error)
        except (urllib.error.URLError, OSError) as exc:
            error = f"{url}: {getattr(exc, 'reason', exc)}"
        if attempt < settings.webhook_attempts:
            log.info("webhook %s: %s; trying again in %.1f s", url, error, wait)
            sleep(wait)
            wait *= 2
    return Outcome(False, settings.webhook_attempts, error)
