"""Fetching like a good citizen: conditional GET, compression, limits, redirects (and the
stored URL they move), hints for the schedule, the address policy, per-host politeness."""

import gzip
import socket
import tracemalloc
import zlib
from datetime import timedelta

import pytest

from aggregator.entities import FeedForUpdate
from aggregator.errors import FetchError
from aggregator.pipeline import fetch as fetch_module
from aggregator.pipeline.fetch import FetchPolicy, check_address, fetch_feed, make_client
from aggregator.settings import settings_from_dict
from conftest import config_dict
from hostile import HostileServer

RSS = '<rss version="2.0"><channel><title>Т</title><item><title>Новость</title></item></channel></rss>'


def policy(**changes) -> FetchPolicy:
    base = dict(
        user_agent="test-agent/1.0",
        connect_timeout=2,
        read_timeout=2,
        total_timeout=5,
        max_body_bytes=100_000,
        max_redirects=3,
        allow_private_addresses=True,
    )
    return FetchPolicy(**{**base, **changes})


def fetch(url: str, **changes):
    feed = FeedForUpdate(id=1, url=url, name="т", etag=changes.pop("etag", None))
    with make_client(policy(**changes)) as client:
        return fetch_feed(feed, policy(**changes), client)


def test_sends_a_descriptive_user_agent_and_gets_the_body(feed_server):
    fetched = fetch(feed_server.serve("/rss", RSS))
    assert fetched.status == 200 and fetched.body == RSS.encode()
    assert feed_server.hits("/rss")[0]["User-Agent"] == "test-agent/1.0"
    assert fetched.etag


def test_a_known_etag_gets_304_and_no_body(feed_server):
    url = feed_server.serve("/rss", RSS)
    first = fetch(url)
    second = fetch(url, etag=first.etag)
    assert second.not_modified and second.body is None


def test_gzip_is_decompressed(feed_server):
    url = feed_server.serve("/gz", gzip.compress(RSS.encode()), headers={"Content-Encoding": "gzip"})
    assert fetch(url).body == RSS.encode()
    assert "gzip" in feed_server.hits("/gz")[0]["Accept-Encoding"]


def test_the_size_limit_counts_the_decompressed_body(feed_server):
    bomb = gzip.compress(b"<rss>" + b" " * 5_000_000)
    url = feed_server.serve("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError) as error:
        fetch(url)
    assert error.value.kind == "too_large"


def test_a_permanent_redirect_is_followed_and_reported(feed_server):
    target = feed_server.serve("/new", RSS)
    old = feed_server.serve("/old", "", status=301, headers={"Location": "/new"})
    fetched = fetch(old)
    assert fetched.body == RSS.encode() and fetched.permanent_url == target
    temporary = feed_server.serve("/tmp", "", status=302, headers={"Location": "/new"})
    assert fetch(temporary).permanent_url is None


def test_a_redirect_loop_is_an_error(feed_server):
    loop = feed_server.serve("/a", "", status=302, headers={"Location": "/a"})
    with pytest.raises(FetchError, match="redirects"):
        fetch(loop)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/rss", "http://169.254.169.254/latest", "http://10.0.0.1/", "http://[::1]/", "http://localhost/"]
)
def test_private_addresses_are_refused_by_default(url):
    with pytest.raises(FetchError) as error:
        check_address(url, allow_private=False)
    assert error.value.kind == "refused_address"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed", "gopher://x/"])
def test_only_http_and_https_are_fetched(url):
    with pytest.raises(FetchError, match="only http and https"):
        check_address(url, allow_private=True)


def test_a_redirect_to_a_private_address_is_refused(feed_server, monkeypatch):
    real_check = fetch_module.check_address

    def public_test_server(url: str, allow_private: bool) -> None:
        """Treat the local test server as a public site; judge everything else for real."""
        if not url.startswith(feed_server.base):
            real_check(url, allow_private)

    monkeypatch.setattr(fetch_module, "check_address", public_test_server)
    url = feed_server.serve("/jump", "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    with pytest.raises(FetchError) as error:
        fetch(url, allow_private_addresses=False)
    assert error.value.kind == "refused_address"
    assert "169.254.169.254" in str(error.value)


@pytest.mark.parametrize("compress", [zlib.compress, lambda data: zlib.compress(data)[2:-4]], ids=["zlib", "raw"])
def test_deflate_with_or_without_its_zlib_header_is_decompressed(feed_server, compress):
    url = feed_server.serve("/deflate", compress(RSS.encode()), headers={"Content-Encoding": "deflate"})
    assert fetch(url).body == RSS.encode()


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_a_compression_bomb_never_inflates_past_the_limit_in_memory(feed_server, encoding, compress):
    bomb = compress(b"<rss>" + b" " * 50_000_000)  # 50 MB inflated, ~50 kB on the wire
    url = feed_server.serve("/bomb", bomb, headers={"Content-Encoding": encoding})
    tracemalloc.start()
    try:
        with pytest.raises(FetchError) as error:
            fetch(url)  # the limit is 100 kB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.value.kind == "too_large"
    assert peak < 2_000_000, f"peak {peak} bytes"


def test_a_declared_length_over_the_limit_is_refused_before_reading(feed_server):
    url = feed_server.serve("/big", b"x" * 200_000)
    with pytest.raises(FetchError, match="larger than the limit of 100000 bytes"):
        fetch(url)


def test_a_chain_with_a_temporary_hop_does_not_move_the_feed(feed_server):
    target = feed_server.serve("/final", RSS)
    feed_server.serve("/step", "", status=302, headers={"Location": "/final"})
    first = feed_server.serve("/first", "", status=301, headers={"Location": "/step"})
    assert fetch(first).permanent_url is None
    feed_server.serve("/step2", "", status=308, headers={"Location": "/final"})
    moved = feed_server.serve("/first2", "", status=301, headers={"Location": "/step2"})
    assert fetch(moved).permanent_url == target


def test_gone_is_its_own_kind_and_retry_after_is_read(feed_server):
    with pytest.raises(FetchError) as gone:
        fetch(feed_server.serve("/gone", "", status=410))
    assert gone.value.kind == "gone" and "no longer polled" in str(gone.value)
    with pytest.raises(FetchError) as throttled:
        fetch(feed_server.serve("/busy", "", status=429, headers={"Retry-After": "120"}))
    assert throttled.value.kind == "http_429" and throttled.value.retry_after == timedelta(seconds=120)
    assert "wait 2 min" in str(throttled.value)


def test_cache_headers_become_a_freshness_hint(feed_server):
    assert fetch(feed_server.serve("/cached", RSS, headers={"Cache-Control": "public, max-age=3600"})).fresh_for == timedelta(hours=1)
    assert fetch(feed_server.serve("/nocache", RSS, headers={"Cache-Control": "no-cache, max-age=3600"})).fresh_for is None
    assert fetch(feed_server.serve("/plain", RSS)).fresh_for is None


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """DNS rebinding: the name answers a public address to the check and a private one
    after; we connect to the checked address and never ask again."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    connected = []

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in next(answers)]

    def connect(address, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    with pytest.raises(FetchError) as error:
        fetch("http://rebinding.example/rss", allow_private_addresses=False)
    assert error.value.kind == "connection_error"
    assert connected == [("93.184.216.34", 80)]


def test_a_moved_feed_keeps_its_new_address_across_restarts(tmp_path, feed_server, make_service):
    feed_server.serve("/new.xml", RSS)
    old = feed_server.serve("/old.xml", "", status=301, headers={"Location": "/new.xml"})
    settings = settings_from_dict(config_dict(tmp_path, {"Лента": old}))
    service = make_service(settings)
    service.poll(include_all=True)
    (feed,) = service.storage.feeds.list()
    assert feed.url == feed_server.base + "/new.xml" and feed.status == "ok"
    make_service(settings)  # the next start reads config.toml, which still says /old.xml
    assert [f.url for f in service.storage.feeds.list()] == [feed_server.base + "/new.xml"]
    assert len(feed_server.hits("/old.xml")) == 1
    service.poll(include_all=True)
    assert len(feed_server.hits("/old.xml")) == 1


def test_a_feed_moving_onto_another_feed_is_an_error_in_words(tmp_path, feed_server, make_service):
    target = feed_server.serve("/main.xml", RSS)
    alias = feed_server.serve("/alias.xml", "", status=308, headers={"Location": "/main.xml"})
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Основная": target, "Псевдоним": alias})))
    service.poll(include_all=True)
    feeds = {f.name: f for f in service.storage.feeds.list()}
    assert feeds["Основная"].status == "ok"
    assert feeds["Псевдоним"].status == "moved_to_duplicate" and feeds["Псевдоним"].url == alias
    assert "already the feed 'Основная'" in feeds["Псевдоним"].last_error


def test_one_host_gets_at_most_two_requests_at_once(tmp_path, make_service):
    server = HostileServer()
    try:
        feeds = {
            f"{host} {n}": f"http://{host}:{server.base.rsplit(':', 1)[1]}/polite?{n}"
            for host in ("127.0.0.1", "localhost")
            for n in range(5)
        }
        service = make_service(settings_from_dict(config_dict(tmp_path, feeds)))
        outcome = service.poll(include_all=True)
    finally:
        server.close()
    assert outcome.failed == 0
    assert server.most_at_once == {"127.0.0.1": 2, "localhost": 2}
