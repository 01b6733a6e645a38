"""Headless Chromium for browser tests: the system browser, kept off the network, logging what pages request.

Use ``with chromium_page() as (page, log): page.goto(url, wait_until="networkidle")``, then check
``log.requests`` (every URL requested), ``log.errors`` (console errors and uncaught exceptions) and
``log.blocked`` (requests aborted because they left 127.0.0.1/localhost).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# As root in a container Chromium needs --no-sandbox; the rest keep it from reaching for the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


@dataclass
class PageLog:
    """What a page did: URLs requested, URLs blocked as non-local, console errors and uncaught exceptions."""

    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS


@contextmanager
def chromium_page(width: int = 1280, height: int = 800) -> Iterator[tuple[Page, PageLog]]:
    """A fresh headless page whose requests and errors are logged and whose non-local requests are aborted."""
    with chromium_pages(1, width, height) as ([page], log):
        yield page, log


@contextmanager
def chromium_pages(count: int, width: int = 1280, height: int = 800) -> Iterator[tuple[list[Page], PageLog]]:
    """``count`` pages in separate browser contexts (separate sessions, as two people), sharing one log and guard."""
    log = PageLog()

    def guard(route: Route) -> None:
        if _is_local(route.request.url):
            route.continue_()
        else:
            log.blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(count):
                context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
                page = context.new_page()
                page.on("request", lambda request: log.requests.append(request.url))
                page.on("console", lambda msg: msg.type == "error" and log.errors.append(f"console: {msg.text}"))
                page.on("pageerror", lambda exc: log.errors.append(f"pageerror: {exc}"))
                page.route("**/*", guard)
                pages.append(page)
            yield pages, log
        finally:
            browser.close()


def load(url: str, screenshot: str | None = None, width: int = 1280, height: int = 800) -> PageLog:
    """Open ``url``, wait for the network to go idle, optionally save a screenshot, and return the log."""
    with chromium_page(width, height) as (page, log):
        page.goto(url, wait_until="networkidle")
        if screenshot:
            page.screenshot(path=screenshot)
        return log


def log_in_app(page: Page, url: str, username: str, password: str) -> None:
    """Open the app at ``url`` and log in through its form (opened from the header when reads are public)."""
    page.goto(f"{url}/", wait_until="networkidle")
    if page.locator("#login-open").is_visible():
        page.locator("#login-open").click()
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.locator("#login").get_by_role("button", name="Đăng nhập").click()
    expect(page.locator("#who")).to_contain_text(username)  # logged in: the header names the user
    page.locator("#list").wait_for(state="visible")
