"""Fetch stage: one feed URL in, one `Fetched` out, or a `FetchError` saying what went wrong.

Conditional GET (If-None-Match / If-Modified-Since), gzip/deflate, connect/read/total
timeouts, a size limit counted on the decompressed body, a descriptive User-Agent, and
redirects followed by hand so that every hop is checked against the address policy: unless
private addresses are allowed, a URL whose host resolves to loopback, private, link-local or
other non-public addresses is refused. Parsing is left to `parse`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from aggregator.entities import FeedForUpdate, Fetched
from aggregator.errors import FetchError
from aggregator.settings import PollingSettings

log = logging.getLogger(__name__)
REDIRECTS = {301, 302, 303, 307, 308}
PERMANENT = {301, 308}
ACCEPT = "application/atom+xml, application/rss+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


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


def make_client(policy: FetchPolicy, concurrency: int = 8) -> httpx.Client:
    """One client shared by the worker threads of a cycle (it is thread-safe)."""
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    return httpx.Client(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False)


def fetch_feed(feed: FeedForUpdate, policy: FetchPolicy, client: httpx.Client) -> Fetched:
    """GET the feed, following redirects; raise FetchError on any failure."""
    try:
        return _follow(feed, policy, client)
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out: {type(exc).__name__}", kind="timeout") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}", kind="connection_error") from exc


def _follow(feed: FeedForUpdate, policy: FetchPolicy, client: httpx.Client) -> Fetched:
    deadline = time.monotonic() + policy.total_timeout
    url, permanent = feed.url, True
    headers = _request_headers(feed, policy)
    for _hop in range(policy.max_redirects + 1):
        check_address(url, policy.allow_private_addresses)
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code not in REDIRECTS:
                return _answer(response, url, permanent and url != feed.url, policy, deadline)
            permanent = permanent and response.status_code in PERMANENT
            location = response.headers.get("location")
        if not location:
            raise FetchError(f"HTTP {response.status_code} redirect without a Location", kind="bad_redirect")
        url = urljoin(url, location)
    raise FetchError(f"more than {policy.max_redirects} redirects", kind="too_many_redirects")


def check_address(url: str, allow_private: bool) -> None:
    """Refuse non-http(s) URLs, and hosts resolving to non-public addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"only http and https URLs are fetched, not {url!r}", kind="refused_url")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {parts.hostname}: {exc}", kind="dns_error") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise FetchError(
                f"{parts.hostname} resolves to the non-public address {address}; "
                "set [polling] allow_private_addresses = true to allow it",
                kind="refused_address",
            )


def _request_headers(feed: FeedForUpdate, policy: FetchPolicy) -> dict[str, str]:
    headers = {"User-Agent": policy.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    return headers


def _answer(response: httpx.Response, url: str, moved: bool, policy: FetchPolicy, deadline: float) -> Fetched:
    if response.status_code == 304:
        return _fetched(response, url, moved, body=None)
    if response.status_code >= 400 or response.status_code < 200:
        reason = response.reason_phrase or ""
        raise FetchError(f"HTTP {response.status_code} {reason}".strip(), kind=f"http_{response.status_code}")
    return _fetched(response, url, moved, body=_read_body(response, url, policy, deadline))


def _fetched(response: httpx.Response, url: str, moved: bool, body: bytes | None) -> Fetched:
    return Fetched(
        url=url,
        status=response.status_code,
        body=body,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        content_type=response.headers.get("content-type"),
        permanent_url=url if moved else None,
    )


def _read_body(response: httpx.Response, url: str, policy: FetchPolicy, deadline: float) -> bytes:
    """Read the decompressed body, stopping at the size limit and the total deadline."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > policy.max_body_bytes:
            raise FetchError(f"body larger than {policy.max_body_bytes} bytes", kind="too_large")
        if time.monotonic() > deadline:
            raise FetchError(f"took longer than {policy.total_timeout:g} s", kind="timeout")
        chunks.append(chunk)
    return b"".join(chunks)
