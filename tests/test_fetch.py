"""Fetching like a good citizen: conditional GET, gzip, limits, redirects, address policy."""

import gzip

import pytest

from aggregator.entities import FeedForUpdate
from aggregator.errors import FetchError
from aggregator.pipeline import fetch as fetch_module
from aggregator.pipeline.fetch import FetchPolicy, check_address, fetch_feed, make_client

RSS = '<rss version="2.0"><channel><title>Т</title><item><title>Новость</title></item></channel></rss>'


def policy(**changes) -> FetchPolicy:
    base = dict(user_agent="test-agent/1.0", connect_timeout=2, read_timeout=2, total_timeout=5,
                max_body_bytes=100_000, max_redirects=3, allow_private_addresses=True)
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


@pytest.mark.parametrize("url", ["http://127.0.0.1/rss", "http://169.254.169.254/latest", "http://10.0.0.1/", "http://[::1]/", "http://localhost/"])
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
