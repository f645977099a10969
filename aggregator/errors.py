"""The package's one exception tree; the web layer maps these to HTTP statuses."""

from __future__ import annotations

from datetime import timedelta


class AggregatorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(AggregatorError):
    """The configuration is invalid; the message names the key."""


class FetchError(AggregatorError):
    """A feed could not be fetched (network, HTTP status, limits, refused address).

    `kind` is a short machine-readable status for feed health (`timeout`, `http_404`, ...);
    `retry_after` is how long the server asked us to wait (Retry-After on 429 and 503).
    """

    def __init__(self, message: str, kind: str = "fetch_error", retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class ParseError(AggregatorError):
    """A fetched document is not a feed we can read (`unsafe_xml`: one we refuse to read)."""

    def __init__(self, message: str, kind: str = "not_a_feed") -> None:
        super().__init__(message)
        self.kind = kind


class NotFound(AggregatorError):
    """A feed, item, story or topic that does not exist."""


class InvalidRequest(AggregatorError):
    """A request parameter is malformed (bad cursor, bad date, unknown filter)."""
