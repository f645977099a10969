"""The package's one exception tree; the web layer maps these to HTTP statuses.

Every error has a `kind`, a short machine-readable name kept on a feed as its health status.
Whose fault it was decides what follows on a feed: a `SourceError` is the publisher's (the
feed is backed off and its outlet shown as failing), an `InternalError` is ours (logged with
its traceback, counted, shown as the service's fault, and the feed retried at its usual
interval).
"""

from __future__ import annotations

from datetime import timedelta


class AggregatorError(Exception):
    """Root of every error this package raises on purpose."""

    kind = "error"

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class ConfigError(AggregatorError):
    """The configuration is invalid; the message names the key."""

    kind = "config_error"


class SourceError(AggregatorError):
    """A feed's publisher failed us: the feed is backed off and shown as failing."""


class FetchError(SourceError):
    """A feed could not be fetched (network, HTTP status, limits, refused address).

    `kind` says what for feed health (`timeout`, `http_404`, ...); `retry_after` is how long
    the server asked us to wait (Retry-After on 429 and 503).
    """

    kind = "fetch_error"

    def __init__(self, message: str, kind: str = "fetch_error", retry_after: timedelta | None = None) -> None:
        super().__init__(message, kind)
        self.retry_after = retry_after


class ParseError(SourceError):
    """A fetched document is not a feed we can read (`unsafe_xml`: one we refuse to read)."""

    kind = "not_a_feed"


class InternalError(AggregatorError):
    """A bug of ours (or our database failing) met while handling one feed: not the
    publisher's fault, so the feed is not backed off. The original exception is its cause."""

    kind = "internal_error"


class NotFound(AggregatorError):
    """A feed, item, story or topic that does not exist."""

    kind = "not_found"


class InvalidRequest(AggregatorError):
    """A request parameter is malformed (bad cursor, bad date, unknown filter)."""

    kind = "invalid_request"
