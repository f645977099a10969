"""Fetch stage: one feed URL in, one `Fetched` out, or a `FetchError` saying what went wrong.

Conditional GET (If-None-Match / If-Modified-Since), a descriptive User-Agent, and redirects
followed by hand so that every hop is checked against the address policy: only http(s), and
unless private addresses are allowed, a host resolving to loopback, private, link-local or
other non-public addresses is refused. The connection then goes to exactly the address that
was checked (a DNS answer changing between check and connect cannot reach the inside).

Limits: connect and read timeouts per socket operation, and a total deadline that also
bounds every one of those operations, so a server dripping a byte a second cannot hold a
worker past `total_timeout`. The body is decompressed here (gzip, deflate) a piece at a
time and the size limit counts decompressed bytes, so a compression bomb never inflates
past it. HTTP hints for the schedule (Cache-Control / Expires, Retry-After) are read into
`Fetched.fresh_for` and `FetchError.retry_after`. Parsing is left to `parse`, deciding when
to poll again to `schedule`, and per-host politeness to `retrieve`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
import typing
import zlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import httpcore
import httpx

from aggregator.entities import FeedForUpdate, Fetched
from aggregator.errors import FetchError
from aggregator.pipeline.schedule import http_freshness, http_retry_after
from aggregator.settings import PollingSettings

log = logging.getLogger(__name__)
REDIRECTS = {301, 302, 303, 307, 308}
PERMANENT = {301, 308}
THROTTLED = {429, 503}
ACCEPT = "application/atom+xml, application/rss+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
GZIP_WBITS = 16 + zlib.MAX_WBITS


@dataclass(frozen=True)
class FetchPolicy:
    """The limits every fetch obeys, taken from `[polling]`."""

    user_agent: str
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_body_bytes: int
    max_redirects: int
    allow_private_addresses: bool

    @classmethod
    def from_settings(cls, polling: PollingSettings) -> FetchPolicy:
        return cls(
            user_agent=polling.user_agent,
            connect_timeout=polling.connect_timeout_seconds,
            read_timeout=polling.read_timeout_seconds,
            total_timeout=polling.total_timeout_seconds,
            max_body_bytes=polling.max_body_bytes,
            max_redirects=polling.max_redirects,
            allow_private_addresses=polling.allow_private_addresses,
        )


@dataclass
class _FetchScope:
    """What the connections of one fetch obey: its deadline and the addresses checked per host."""

    deadline: float
    pinned: dict[str, tuple[str, ...]] = field(default_factory=dict)


_SCOPE: ContextVar[_FetchScope | None] = ContextVar("fetch_scope", default=None)


def make_client(policy: FetchPolicy, concurrency: int = 8) -> httpx.Client:
    """One client shared by the worker threads of a cycle (it is thread-safe)."""
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    return httpx.Client(timeout=timeout, transport=_GuardedTransport(limits), follow_redirects=False, trust_env=False)


def fetch_feed(feed: FeedForUpdate, policy: FetchPolicy, client: httpx.Client) -> Fetched:
    """GET the feed, following redirects; raise FetchError on any failure."""
    scope = _FetchScope(deadline=time.monotonic() + policy.total_timeout)
    token = _SCOPE.set(scope)
    try:
        return _follow(feed, policy, client, scope)
    except httpx.TimeoutException as exc:
        raise FetchError(_timeout_message(exc, policy, scope), kind="timeout") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"connection failed ({type(exc).__name__}): {exc}", kind="connection_error") from exc
    finally:
        _SCOPE.reset(token)


def _timeout_message(exc: httpx.TimeoutException, policy: FetchPolicy, scope: _FetchScope) -> str:
    if time.monotonic() >= scope.deadline - 0.05:
        return f"timed out: no complete answer within the total timeout of {policy.total_timeout:g} s"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out: could not connect within {policy.connect_timeout:g} s"
    return f"timed out: the server sent nothing for {policy.read_timeout:g} s ({type(exc).__name__})"


def _follow(feed: FeedForUpdate, policy: FetchPolicy, client: httpx.Client, scope: _FetchScope) -> Fetched:
    url, permanent, seen = feed.url, True, [feed.url]
    headers = _request_headers(feed, policy)
    for _hop in range(policy.max_redirects + 1):
        addresses = check_address(url, policy.allow_private_addresses)
        if addresses:
            scope.pinned[_host_key(url)] = addresses
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code not in REDIRECTS:
                return _answer(response, url, permanent and url != feed.url, policy, scope)
            permanent = permanent and response.status_code in PERMANENT
            location = response.headers.get("location")
        if not location:
            raise FetchError(f"HTTP {response.status_code} redirect without a Location", kind="bad_redirect")
        url = urljoin(url, location.strip())
        if url in seen:
            raise FetchError("the redirects go round in a loop: " + " -> ".join([*seen, url]), kind="too_many_redirects")
        seen.append(url)
    raise FetchError(f"more than {policy.max_redirects} redirects, last to {url}", kind="too_many_redirects")


def check_address(url: str, allow_private: bool) -> tuple[str, ...]:
    """Refuse non-http(s) URLs, and hosts resolving to non-public addresses unless allowed.

    Returns the checked addresses, which the connection is then pinned to (empty when
    private addresses are allowed: the host is then resolved as usual)."""
    host, port = _host_and_port(url)
    if allow_private:
        return ()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}", kind="dns_error") from exc
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise FetchError(
                f"{host} resolves to the non-public address {address}; set [polling] allow_private_addresses = true to allow it",
                kind="refused_address",
            )
    return addresses


def _host_and_port(url: str) -> tuple[str, int]:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"not a valid URL: {url!r}", kind="refused_url") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(f"only http and https URLs are fetched, not {url!r}", kind="refused_url")
    return _host_key(url), parsed.port or (443 if parsed.scheme == "https" else 80)


def _host_key(url: str) -> str:
    """The host as the connection layer sees it: IDNA-encoded ASCII, lower case."""
    return httpx.URL(url).raw_host.decode("ascii").lower()


def _request_headers(feed: FeedForUpdate, policy: FetchPolicy) -> dict[str, str]:
    headers = {"User-Agent": policy.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    return headers


def _answer(response: httpx.Response, url: str, moved: bool, policy: FetchPolicy, scope: _FetchScope) -> Fetched:
    status = response.status_code
    if status == 304:
        return _fetched(response, url, moved, body=None)
    if status == 410:
        raise FetchError(
            "HTTP 410 Gone: the publisher removed this feed, so it is no longer polled (add it again to retry)",
            kind="gone",
        )
    if status >= 400 or status < 200:
        raise _status_error(response)
    return _fetched(response, url, moved, body=_read_body(response, policy, scope))


def _status_error(response: httpx.Response) -> FetchError:
    status = response.status_code
    message = f"HTTP {status} {response.reason_phrase or ''}".strip()
    retry_after = None
    if status in THROTTLED:
        retry_after = http_retry_after(response.headers.get("retry-after"), response.headers.get("date"), datetime.now(UTC))
        if retry_after is not None:
            message += f"; the server asks to wait {_duration(retry_after)}"
    return FetchError(message, kind=f"http_{status}", retry_after=retry_after)


def _duration(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    return f"{seconds // 3600} h {seconds % 3600 // 60} min" if seconds >= 3600 else f"{seconds // 60} min {seconds % 60} s"


def _fetched(response: httpx.Response, url: str, moved: bool, body: bytes | None) -> Fetched:
    headers = response.headers
    return Fetched(
        url=url,
        status=response.status_code,
        body=body,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        content_type=headers.get("content-type"),
        permanent_url=url if moved else None,
        fresh_for=http_freshness(headers.get("cache-control"), headers.get("expires"), headers.get("date"), datetime.now(UTC)),
    )


def _read_body(response: httpx.Response, policy: FetchPolicy, scope: _FetchScope) -> bytes:
    """Read and decompress the body, stopping at the size limit and the total deadline."""
    limit = policy.max_body_bytes
    inflaters = _inflaters(response.headers.get("content-encoding", ""))
    declared = response.headers.get("content-length", "")
    if not inflaters and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    for raw in response.iter_raw():
        if time.monotonic() > scope.deadline:
            raise FetchError(f"timed out: no complete answer within the total timeout of {policy.total_timeout:g} s", kind="timeout")
        for inflater in reversed(inflaters):
            raw = inflater.inflate(raw, limit + 1 - len(body))
        body += raw
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> FetchError:
    return FetchError(f"the feed is larger than the limit of {limit} bytes (after decompression)", kind="too_large")


def _inflaters(content_encoding: str) -> list[_Inflater]:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")]
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise FetchError(f"unsupported Content-Encoding {coding!r} (we ask for gzip or deflate)", kind="bad_encoding")
    return [_Inflater(coding) for coding in codings]


class _Inflater:
    """Decompresses gzip or deflate a piece at a time, never producing more than asked for."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(GZIP_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def inflate(self, data: bytes, at_most: int) -> bytes:
        """Up to `at_most` bytes of output (reaching it means the caller's limit is passed)."""
        try:
            out = self._first(data, at_most) if not self._started else self._zlib.decompress(data, at_most)
            while self._gzip and self._zlib.eof and self._zlib.unused_data[:2] == b"\x1f\x8b" and len(out) < at_most:
                rest, self._zlib = self._zlib.unused_data, zlib.decompressobj(GZIP_WBITS)  # another gzip member
                out += self._zlib.decompress(rest, at_most - len(out))
        except zlib.error as exc:
            raise FetchError(f"the compressed body is corrupt: {exc}", kind="bad_encoding") from exc
        return out

    def _first(self, data: bytes, at_most: int) -> bytes:
        self._started = True
        try:
            return self._zlib.decompress(data, at_most)
        except zlib.error:
            if self._gzip:
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent without its zlib header
            return self._zlib.decompress(data, at_most)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose sockets obey the fetch's scope.

    httpx offers no public way to hand its pool a network backend, so the pool it builds is
    replaced by an equal one that has ours (`_pool` is the attribute `handle_request` uses)."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(),
        )


class _GuardedBackend(httpcore.SyncBackend):
    """Connects to the addresses `check_address` vetted for the host, within the deadline."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        scope = _SCOPE.get()
        addresses = (scope.pinned.get(host.lower()) if scope else None) or (host,)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, _within_deadline(timeout), local_address, socket_options)
                return _DeadlineStream(stream)
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write waits no longer than the fetch has left."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _within_deadline(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


def _within_deadline(timeout: float | None) -> float | None:
    """The socket timeout for one operation: its own, or what is left of the fetch if less."""
    scope = _SCOPE.get()
    if scope is None:
        return timeout
    left = scope.deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the total timeout is spent")
    return left if timeout is None else min(timeout, left)
