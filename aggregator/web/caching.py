"""HTTP caching for reader pages, curated feeds and the public API's reads: each is rendered
once per change of the data, not once per request, and answered with a strong ETag,
Last-Modified and 304.

`init_app` puts a `PageCache` on the app and `CachedResponses`, a WSGI middleware, in front of
Flask; the middleware asks `stamp()` for the data version (see `DataVersion`, plus today's
date) and answers a GET or HEAD from the cache (200, or 304 to a conditional request) when the body
for this path and query was rendered at that version, with the headers Flask would send: a
feed reader's conditional GET, the commonest request of all, costs no request context,
routing or hooks. Otherwise Flask runs the view, and `conditional()` stores what it renders
in the slot a hook reserved for GETs and HEADs of the chosen blueprints. One entry per
path, least recently used ones dropped beyond `capacity`; a lock keeps the dict consistent
across threads. Bodies must depend only on the path, the query and the data: nothing per
visitor (sessions, CSRF tokens) may appear on a cached page.

A page whose data moved is rendered again by one thread at a time: while it renders, the
process's other requests for that page get the body it rendered before (stale by at most
one render). A poll moves the data version every second or so (each feed it reads), and a
digest of a busy day costs about a tenth of a second to render: without this, every request
during a poll rendered the digest itself, all threads at once, and none of them finished
before the version moved again (`bench serve`, digest during a poll: 0.0006 of a
hello-world app).
A page never rendered yet has nothing to fall back on: threads missing it at once each
render it (the second write wins; both bodies are of the same data).

A body rendered from data newer than its stamp is harmless: the next request sees a new
stamp and renders again. Last-Modified is when this process first rendered the body it
serves (or the data's own time, if later): an unchanged re-render keeps it, so clients still
get 304 after the data version moves for something this page does not show.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import Flask, Response, current_app, g, request
from werkzeug.http import http_date, is_resource_modified, quote_etag
from werkzeug.utils import get_content_type

from aggregator.digest import today

if TYPE_CHECKING:
    from aggregator.storage import Storage

EXTENSION = "page_cache"
MAX_AGE = 60


@dataclass(frozen=True)
class Rendered:
    stamp: Hashable
    body: bytes
    mimetype: str
    etag: str
    last_modified: datetime | None


class DataVersion:
    """The data version, read from the database at most once per `ttl` seconds, and read
    afresh after `changed()`, which storage calls on every commit this process makes. So a
    write in this process (the embedded scheduler, an editor) shows on the next request, and
    one from another process (a worker, the CLI) within `ttl` seconds; between writes a busy
    site does not ask the database on every request. (A read racing a commit may keep the
    older version, again for `ttl` seconds at most.)"""

    def __init__(self, read: Callable[[], Hashable], ttl: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._ttl = ttl
        self._monotonic = monotonic
        self._known: tuple[float, Hashable] | None = None
        self._commits = 0
        self._lock = Lock()

    def __call__(self) -> Hashable:
        with self._lock:
            known, commits = self._known, self._commits
        if known is not None and self._monotonic() - known[0] < self._ttl:
            return known[1]
        started, version = self._monotonic(), self._read()
        with self._lock:
            if self._commits == commits:  # nothing committed while we read
                self._known = (started, version)
        return version

    def changed(self) -> None:
        with self._lock:
            self._commits += 1
            self._known = None


class PageCache:
    def __init__(self, stamp: Callable[[], Hashable], clock: Callable[[], datetime], capacity: int = 512) -> None:
        self.stamp = stamp
        self.clock = clock
        self.capacity = capacity
        self.renders = 0
        self._entries: OrderedDict[str, Rendered] = OrderedDict()
        self._rendering: set[str] = set()  # pages a thread is rendering afresh
        self._lock = Lock()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    def lookup(self, key: str, stamp: Hashable) -> tuple[Rendered | None, bool]:
        """(the entry to answer with, whether the caller must render the page afresh and then
        call `rendered`). The entry is the one at `stamp`, or an older one while another
        thread renders the page; None when the caller renders."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, False
            if entry.stamp == stamp or key in self._rendering:
                self._entries.move_to_end(key)
                return entry, False
            self._rendering.add(key)
            return None, True

    def rendered(self, key: str) -> None:
        """The thread that took the page's rendering in `lookup` is done (stored or failed)."""
        with self._lock:
            self._rendering.discard(key)

    def put(self, key: str, stamp: Hashable, body: bytes, mimetype: str, data_time: datetime | None) -> Rendered:
        etag = _etag(body)
        with self._lock:
            self.renders += 1
            previous = self._entries.get(key)
            kept = previous.last_modified if previous is not None and previous.etag == etag else None
            since = kept or _whole_seconds(self.clock())
            entry = Rendered(stamp, body, mimetype, etag, max(since, data_time) if data_time else since)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry


def init_app(
    app: Flask,
    storage: Storage,
    clock: Callable[[], datetime],
    tz: ZoneInfo,
    blueprints: tuple[str, ...],
    always_headers: Mapping[str, str],
) -> None:
    """Cache every GET and HEAD of the views of `blueprints` that answer with `conditional()`,
    per data version of `storage` and date in `tz`; hits are answered by `CachedResponses`,
    put in front of Flask here with `always_headers` (those an after-request hook adds)."""
    version = DataVersion(lambda: storage.reads.data_version(clock()))
    storage.on_commit(version.changed)

    def stamp() -> Hashable:
        """What a rendered page depends on: the data, and the date in the service's zone."""
        return version(), today(clock(), tz)

    cache = app.extensions[EXTENSION] = PageCache(stamp, clock)
    app.wsgi_app = CachedResponses(app.wsgi_app, cache, always_headers)  # type: ignore[method-assign]

    @app.before_request
    def _reserve_a_slot() -> None:
        """A request that reached Flask missed the cache (`CachedResponses` answers the hits):
        what the view renders is stored under this path at this stamp."""
        if request.method in ("GET", "HEAD") and request.blueprint in blueprints:
            g.page_cache_slot = (cache_key(request.environ), cache.stamp())


class CachedResponses:
    """WSGI middleware: a GET or HEAD whose page or feed is in the cache at the current stamp
    is answered here, 200 with the body or 304 to a matching If-None-Match/If-Modified-Since,
    with the headers Flask would send (`always_headers`: the security headers). Everything
    else goes on to Flask; a path never rendered into the cache (liveness, metrics, admin)
    does so without asking for the data version, so the database is not consulted for it."""

    def __init__(self, wsgi_app: Callable, cache: PageCache, always_headers: Mapping[str, str]) -> None:
        self.wsgi_app = wsgi_app
        self.cache = cache
        self.always_headers = list(always_headers.items())

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD"):
            key = cache_key(environ)
            entry, renders = self.cache.lookup(key, self.cache.stamp()) if key in self.cache else (None, False)
            if entry is not None:
                return self._answer(entry, environ, start_response, method == "HEAD")
            if renders:
                try:
                    return self.wsgi_app(environ, start_response)  # Flask's response is rendered by the time it returns
                finally:
                    self.cache.rendered(key)
        return self.wsgi_app(environ, start_response)

    def _answer(self, entry: Rendered, environ: dict, start_response: Callable, head: bool) -> Iterable[bytes]:
        headers = [("ETag", quote_etag(entry.etag)), ("Cache-Control", f"public, max-age={MAX_AGE}"), ("Date", http_date(time.time()))]
        if entry.last_modified is not None:
            headers.append(("Last-Modified", http_date(entry.last_modified)))
        headers += self.always_headers
        if not is_resource_modified(environ, etag=entry.etag, last_modified=entry.last_modified):
            start_response("304 NOT MODIFIED", headers)
            return []
        headers += [("Content-Type", get_content_type(entry.mimetype, "utf-8")), ("Content-Length", str(len(entry.body)))]
        start_response("200 OK", headers)
        return [] if head else [entry.body]


def cache_key(environ: dict) -> str:
    """A page's place in the cache: its path and query, as the client sent them."""
    return environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")


def conditional(body: bytes | str, mimetype: str, last_modified: datetime | None = None) -> Response:
    """The response for a rendered page or feed, with validators; remembered in the page
    cache when this request has a slot there. `last_modified` is the data's own time, if any."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    data_time = _whole_seconds(last_modified)
    cache: PageCache | None = current_app.extensions.get(EXTENSION)
    slot = g.pop("page_cache_slot", None)
    if cache is not None and slot is not None:
        return _response(cache.put(*slot, data, mimetype, data_time))
    return _response(Rendered(None, data, mimetype, _etag(data), data_time))


def _response(entry: Rendered) -> Response:
    response = Response(entry.body, mimetype=entry.mimetype)
    response.set_etag(entry.etag)
    if entry.last_modified is not None:
        response.last_modified = entry.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return response.make_conditional(request)


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _whole_seconds(moment: datetime | None) -> datetime | None:
    return moment.replace(microsecond=0) if moment is not None else None
