"""The bundled regional sample feeds (demo/feeds) served by a test's `FeedServer` at a given
moment: six outlets, two days of stories, some told by up to four of them, some with pictures.
With `local_images`, the pictures are served by the same server (as `make demo` does), so a
browser on 127.0.0.1 can load them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from aggregator.service import Service
from aggregator.settings import settings_from_dict
from conftest import FeedServer, config_dict
from demo.images import local_image_urls, picture
from demo.render import FEEDS_DIR, declared_encoding, render_feed

EXPECTED = json.loads((FEEDS_DIR / "expected.json").read_text(encoding="utf-8"))
MIME = {"rss2": "application/rss+xml", "atom": "application/atom+xml", "rss1": "application/rdf+xml"}


def serve_sample_feeds(server: FeedServer, now, local_images: bool = False) -> dict[str, str]:
    """Outlet name -> URL of its feed on `server`, rendered at `now`."""
    feeds = {}
    for spec in EXPECTED["feeds"]:
        body = render_feed(FEEDS_DIR / spec["file"], now)
        if local_images:
            body = _with_local_images(server, body)
        feeds[spec["outlet"]] = server.serve("/" + spec["file"], body, content_type=MIME[spec["format"]])
    return feeds


def _with_local_images(server: FeedServer, body: bytes) -> bytes:
    encoding = declared_encoding(body)
    text = local_image_urls(body.decode(encoding), server.base)
    for path in re.findall(re.escape(server.base) + r"(/images/[^\"'<\s]+)", text):
        server.serve(path, picture(path), content_type="image/png")
    return text.encode(encoding)


@contextmanager
def polled_sample_service(folder: Path, classifier, clock: list[datetime], local_images: bool = False) -> Iterator[Service]:
    """A service configured for the sample feeds (database in `folder`), polled once at
    `clock[0]`; for module-scoped fixtures that many read-only tests share."""
    server = FeedServer()
    try:
        settings = settings_from_dict(config_dict(folder, serve_sample_feeds(server, clock[0], local_images)))
        service = Service(settings, clock=lambda: clock[0], classifier=classifier).prepare()
        try:
            service.poll(include_all=True)
            yield service
        finally:
            service.storage.close()
    finally:
        server.close()
