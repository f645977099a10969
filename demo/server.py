"""A small HTTP server for the bundled feeds, with conditional GET.

Each feed file is served at `/<filename>` (and, for `make demo`, the feeds' sample pictures
under `/images/`, see `images`), rendered with `now_fn()` truncated to the minute, so
its body, ETag and Last-Modified stay the same for a whole minute (and for good if `now_fn`
returns a fixed time). `If-None-Match` and `If-Modified-Since` are answered with 304.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from demo.images import IMAGE_PREFIX, local_image_urls, picture
from demo.render import declared_encoding, feed_files, feed_format, render_feed

CONTENT_TYPES = {"rss2": "application/rss+xml", "atom": "application/atom+xml", "rss1": "application/rdf+xml"}


def content_type(path: Path) -> str:
    """The Content-Type header for a feed file, charset included."""
    data = path.read_bytes()
    encoding = declared_encoding(data)
    return f"{CONTENT_TYPES[feed_format(data.decode(encoding))]}; charset={encoding}"


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


def serve_feeds(
    now_fn: Callable[[], datetime], host: str = "127.0.0.1", port: int = 0, local_images: bool = False
) -> tuple[ThreadingHTTPServer, str]:
    """Start serving the feeds in a daemon thread; returns the server and its base URL. With
    `local_images`, the feeds' pictures point at this server, which draws them (`images`)."""
    files = {p.name: p for p in feed_files()}
    base: list[str] = []  # known once the server is bound

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._respond(send_body=False)

        def do_GET(self) -> None:
            self._respond(send_body=True)

        def _respond(self, send_body: bool) -> None:
            if local_images and self.path.startswith(IMAGE_PREFIX):
                headers = {"Content-Type": "image/png", "Cache-Control": "max-age=86400"}
                self._send(200, headers, picture(self.path.split("?", 1)[0]), send_body)
                return
            path = files.get(self.path.split("?", 1)[0].lstrip("/"))
            if path is None:
                body = "\n".join(f"/{name}" for name in files).encode() + b"\n"
                status = 200 if self.path == "/" else 404
                self._send(status, {"Content-Type": "text/plain; charset=utf-8"}, body, send_body)
                return
            now = now_fn()
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            now = now.astimezone(UTC).replace(second=0, microsecond=0)
            body = render_feed(path, now)
            if local_images:
                encoding = declared_encoding(body)
                body = local_image_urls(body.decode(encoding), base[0]).encode(encoding)
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            headers = {
                "Content-Type": content_type(path),
                "ETag": etag,
                "Last-Modified": format_datetime(now, usegmt=True),
                "Cache-Control": "max-age=60",
            }
            inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            if (inm is not None and _etag_matches(inm, etag)) or (inm is None and ims is not None and _not_modified_since(ims, now)):
                del headers["Content-Type"]
                self._send(304, headers, b"", False)
            else:
                self._send(200, headers, body, send_body)

        def _send(self, status: int, headers: dict[str, str], body: bytes, send_body: bool) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    base.append(f"http://{host}:{server.server_port}")
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="demo-feeds", daemon=True).start()
    return server, base[0]
