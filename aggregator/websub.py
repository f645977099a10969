"""WebSub, the publisher's side: tell the configured hub which curated feeds changed.

The curated Atom feeds declare the hub (`<link rel="hub">`, see `publish.atom`); after a poll
cycle that stored new or updated items, `announce` POSTs `hub.mode=publish&hub.url=<feed>`
to the hub once per changed feed: `/feeds/all.atom`, the topic feeds the touched stories
appear in (every topic feed when an item changed in place, since it may have left one), and
`/feeds/digest.atom`. The hub then fetches those feeds and pushes them to subscribers.

A failure is logged and never raised: subscribers still get the change at their next poll.
The hub URL obeys the feeds' address rule (no loopback or private addresses unless
`[polling] allow_private_addresses`), and its redirects are not followed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import httpx

from aggregator.entities import CycleOutcome
from aggregator.errors import AggregatorError
from aggregator.pipeline.fetch import FetchPolicy, check_address
from aggregator.settings import Settings
from aggregator.storage import Storage

log = logging.getLogger(__name__)


def announce(storage: Storage, settings: Settings, outcome: CycleOutcome) -> list[str]:
    """Notify the hub of the feeds `outcome` changed; the feed URLs the hub accepted."""
    hub = settings.websub.hub
    if hub is None or not _changed(outcome):
        return []
    try:
        urls = changed_feed_urls(settings.service.base_url, _changed_topics(storage, settings, outcome))
        return notify_hub(hub, urls, FetchPolicy.from_settings(settings.polling))
    except Exception:  # a failed announcement must never break the cycle
        log.exception("WebSub: announcing the changed feeds to hub %s failed", hub)
        return []


def changed_feed_urls(base_url: str, topics: Iterable[str]) -> list[str]:
    """The public URLs of the curated feeds to announce, as their `rel="self"` links say them."""
    paths = ["/feeds/all.atom", *(f"/feeds/{slug}.atom" for slug in topics), "/feeds/digest.atom"]
    return [base_url + path for path in paths]


def notify_hub(hub: str, feed_urls: Sequence[str], policy: FetchPolicy) -> list[str]:
    """POST one publish notification per feed URL; the URLs the hub accepted (2xx). An
    unreachable hub is given up on at the first connection failure."""
    try:
        check_address(hub, policy.allow_private_addresses)
    except AggregatorError as exc:
        log.warning("WebSub hub %s refused: %s", hub, exc)
        return []
    accepted = []
    with _client(policy) as client:
        for url in feed_urls:
            try:
                response = client.post(hub, data={"hub.mode": "publish", "hub.url": url})
            except httpx.HTTPError as exc:
                log.warning("WebSub hub %s unreachable while announcing %s: %s: %s", hub, url, type(exc).__name__, exc)
                break
            if response.is_success:
                accepted.append(url)
            else:
                log.warning("WebSub hub %s answered HTTP %d to the announcement of %s", hub, response.status_code, url)
    log.info("WebSub hub %s notified of %d of %d changed feeds", hub, len(accepted), len(feed_urls))
    return accepted


def _changed(outcome: CycleOutcome) -> bool:
    return any(feed.new or feed.updated for feed in outcome.feeds)


def _changed_topics(storage: Storage, settings: Settings, outcome: CycleOutcome) -> list[str]:
    """Configured topics whose feeds the cycle changed, in configuration order."""
    if any(feed.updated for feed in outcome.feeds) or outcome.started is None:
        return list(settings.topics)
    touched = storage.reads.topics_of_stories_touched_since(outcome.started)
    return [slug for slug in settings.topics if slug in touched]


def _client(policy: FetchPolicy) -> httpx.Client:
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, headers={"User-Agent": policy.user_agent})
