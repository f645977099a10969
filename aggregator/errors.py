"""The package's one exception tree; the web layer maps these to HTTP statuses."""


class AggregatorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(AggregatorError):
    """The configuration is invalid; the message names the key."""


class FetchError(AggregatorError):
    """A feed could not be fetched (network, HTTP status, limits, refused address).

    `kind` is a short machine-readable status for feed health (`timeout`, `http_404`, ...).
    """

    def __init__(self, message: str, kind: str = "fetch_error") -> None:
        super().__init__(message)
        self.kind = kind


class ParseError(AggregatorError):
    """A fetched document is not a feed we can read."""

    kind = "not_a_feed"


class NotFound(AggregatorError):
    """A feed, item, story or topic that does not exist."""


class InvalidRequest(AggregatorError):
    """A request parameter is malformed (bad cursor, bad date, unknown filter)."""
