"""What the browser tests share: the app served on 127.0.0.1 from a thread, Debian's chromium
under Playwright, and a tab that remembers what it was asked to do.

The live server buffers every response before it writes it. Werkzeug's development server
skips the response's `close()` when the client hangs up mid-write (Chromium drops a stylesheet
request when a test navigates on), which leaves the static file open; with warnings as errors,
that surfaced as a failure of whichever test ran next. A buffered body holds no file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from aggregator import create_app
from aggregator.service import Service
from aggregator.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = REPO_ROOT / "test-artifacts"


@dataclass
class LiveSite:
    base: str
    service: Service
    story_ids: dict[str, int] = field(default_factory=dict)  # demo story key -> stored story id

    def url(self, path: str) -> str:
        return self.base + path


def _buffered(app):
    """The WSGI app with each body read whole and closed before the server writes a byte."""

    def wrapped(environ, start_response) -> Iterable[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wrapped


@contextmanager
def serving(service: Service) -> Iterator[LiveSite]:
    """`service`'s site on a free port of 127.0.0.1 until the block ends."""
    server = make_server("127.0.0.1", 0, _buffered(create_app(service=service)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveSite(f"http://127.0.0.1:{server.server_port}", service)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def launched_chromium() -> Iterator[object]:
    """Debian's chromium under Playwright; skips the test, saying why, when either is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `make test` installs it (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Visit:
    """A browser tab on the live site that remembers dialogs and every request it made."""

    page: object
    site: LiveSite
    dialogs: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (resource type, url)

    def open(self, path: str) -> object:
        response = self.page.goto(self.site.url(path))
        assert response is not None
        return response

    def scripts_ran(self) -> bool:
        return self.page.evaluate("typeof window.__xss !== 'undefined'") or bool(self.dialogs)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def tab(browser, site: LiveSite, width: int, bypass_csp: bool = False) -> Iterator[Visit]:
    """A fresh tab `width` pixels wide that may reach the live site and nothing else."""
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="ru-RU", bypass_csp=bypass_csp)
    page = context.new_page()
    visit = Visit(page, site)
    page.on("dialog", lambda dialog: (visit.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: visit.requests.append((request.resource_type, request.url)))
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site.base) else route.abort())
    try:
        yield visit
    finally:
        context.close()
