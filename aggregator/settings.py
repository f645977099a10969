"""Settings: `config.toml` parsed once into a typed, validated, frozen object.

Where the file lives: `--config PATH`, else `AGGREGATOR_CONFIG`, else `config.toml` in the
working directory; with none of them, `ConfigError` says how to give one (the package's own
`config.toml` is only an example to copy: a relative SQLite path is relative to the file, and a
database never goes inside the installed package). `AGGREGATOR_DATABASE_URL` overrides
`[database] url`. A bad value raises `ConfigError` with a message naming the key; nothing
here starts anything, so a bad file never leaves the service half-configured.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aggregator.errors import ConfigError
from aggregator.selectors import PageSelectors

PACKAGE_DIR = Path(__file__).resolve().parent
EXAMPLE_CONFIG = PACKAGE_DIR / "config.toml"  # the repository's config.toml, shipped in the wheel
REPO_ROOT = PACKAGE_DIR.parent  # a checkout's root, for its tests and benchmarks; the service never reads it
DEFAULT_USER_AGENT = "regional-news-aggregator/0.1 (+https://github.com/; polite feed poller)"

TELEGRAM_ADDRESS = r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:s/)?"
TELEGRAM_CHANNEL = re.compile(rf"^(?:@|{TELEGRAM_ADDRESS})?([A-Za-z][A-Za-z0-9_]{{3,31}})/?$")
TELEGRAM_PAGE = re.compile(rf"^{TELEGRAM_ADDRESS}([A-Za-z][A-Za-z0-9_]{{3,31}})/?$")
Positive = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


class ServiceSettings(_Section):
    title: str = "Региональные новости"
    base_url: str = "http://127.0.0.1:8000"
    timezone: str = "UTC"
    language: str = "ru"

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseSettings(_Section):
    url: str = "sqlite:///instance/aggregator.db"


class PollingSettings(_Section):
    interval_minutes: Positive = 15
    tick_seconds: Positive = 60
    concurrency: Positive = 8
    per_host_concurrency: Positive = 2
    lease_minutes: Positive = 30  # how long a poller holds the feeds it took (a crashed one's expire)
    connect_timeout_seconds: PositiveFloat = 10
    read_timeout_seconds: PositiveFloat = 20
    total_timeout_seconds: PositiveFloat = 60
    max_body_bytes: Positive = 10_000_000
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    max_items_per_feed: Positive = 1000
    max_backoff_hours: PositiveFloat = 24
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_addresses: bool = False


class FeedSettings(_Section):
    url: str
    name: str
    interval_minutes: Positive | None = None
    topic: str | None = None
    kind: Literal["feed", "html", "telegram"] = "feed"  # "html": a news-list page read with `selectors`; "telegram": a public channel
    selectors: PageSelectors | None = None  # each selector is checked to compile (`aggregator.selectors`)
    channel: str | None = None  # a "telegram" source's channel name (given as a name, @name or t.me address)
    full_text: bool = False  # fetch each new item's article page and keep its main text
    publish: Literal["summary", "full_text"] = "summary"  # what the curated Atom feeds offer of its items

    @model_validator(mode="before")
    @classmethod
    def _channel_page(cls, raw: Any) -> Any:
        """A channel is read from its web preview, https://t.me/s/<channel>, unless `url` names
        another page (a mirror of it)."""
        if not isinstance(raw, dict) or raw.get("kind") != "telegram":
            return raw
        url = raw.get("url")
        if isinstance(url, str) and "channel" not in raw and TELEGRAM_CHANNEL.match(url.strip()):
            raw = dict(raw, channel=url)
        if "channel" not in raw:
            if url is None:
                raise ValueError('kind = "telegram" needs channel = "<name>" (or its t.me/<name> address)')
            return raw
        page = f"https://t.me/s/{telegram_channel(raw['channel'])}"
        return dict(raw, url=page) if url is None or TELEGRAM_CHANNEL.match(str(url).strip()) else raw

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else telegram_channel(value)


def telegram_channel(value: object) -> str:
    """A public channel's name, from its name, @name, or t.me/<name> / t.me/s/<name> address."""
    found = TELEGRAM_CHANNEL.match(value.strip()) if isinstance(value, str) else None
    if not found:
        raise ValueError(f"channel: {value!r} is not a public channel's name (5-32 letters, digits or _) or its t.me/<name> address")
    return found.group(1)


def telegram_page(address: str) -> str | None:
    """The web preview of the public channel at a t.me address; None for any other address."""
    found = TELEGRAM_PAGE.match(address.strip())
    return f"https://t.me/s/{found.group(1)}" if found else None


class TopicSettings(_Section):
    title: str
    keywords: list[str] = []
    negative: list[str] = []
    categories: list[str] = []


class DigestSettings(_Section):
    """The digest page and feed; `top_*` choose its «Главное» block and /feeds/top.*: stories
    with a report in the last `top_hours` told by at least `top_min_outlets` outlets, at most
    `top_max` of them."""

    other_title: str = "Другое"
    max_items_per_topic: Positive = 30
    days_in_feed: Positive = 14
    top_hours: Annotated[int, Field(gt=0, le=24 * 31)] = 24
    top_min_outlets: Positive = 2
    top_max: Annotated[int, Field(gt=0, le=200)] = 20


class SponsoredSettings(_Section):
    """How advertising is recognised: phrases anywhere, labels at the edge of a text, categories."""

    phrases: list[str] = ["на правах рекламы", "партнерский материал", "спонсорский материал", "материал партнера", "рекламный материал"]
    labels: list[str] = ["реклама", "промо", "advertising"]
    categories: list[str] = ["реклама", "партнерский проект", "партнерский материал", "спецпроект", "промо", "на правах рекламы"]


class ClassifierSettings(_Section):
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.2
    secondary_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5


class StorySettings(_Section):
    window_hours: PositiveFloat = 48
    encoder: Literal["e5", "none"] = "e5"  # "none": words only (see pipeline/encoder)
    encoder_threads: Annotated[int, Field(ge=1, le=64)] = 1


class RetentionSettings(_Section):
    """Stories whose last report is older than `keep_days` are deleted (with their items),
    in batches, once a day by the scheduler or by `aggregator prune`."""

    keep_days: Positive = 180
    batch: Positive = 500


class WebSubSettings(_Section):
    """A WebSub hub to announce curated feed changes to (none by default)."""

    hub: str | None = None


class AdminSettings(_Section):
    """Who may correct the service. Secrets belong in the environment (AGGREGATOR_ADMIN_PASSWORD,
    AGGREGATOR_ADMIN_TOKEN, AGGREGATOR_SECRET_KEY); with no password and no token, admin is off."""

    username: str = "admin"
    password: str | None = None
    password_hash: str | None = None
    token: str | None = None
    secret_key: str | None = None
    max_failed_logins: Positive = 5
    lockout_minutes: Positive = 15

    @property
    def enabled(self) -> bool:
        return bool(self.password or self.password_hash or self.token)


class Settings(_Section):
    service: ServiceSettings = ServiceSettings()
    database: DatabaseSettings = DatabaseSettings()
    polling: PollingSettings = PollingSettings()
    feeds: list[FeedSettings] = []
    topics: dict[str, TopicSettings] = {}
    digest: DigestSettings = DigestSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    stories: StorySettings = StorySettings()
    sponsored: SponsoredSettings = SponsoredSettings()
    retention: RetentionSettings = RetentionSettings()
    websub: WebSubSettings = WebSubSettings()
    admin: AdminSettings = AdminSettings()
    source: str = "<defaults>"

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        for slug in self.topics:
            if not slug.replace("-", "").replace("_", "").isalnum() or not slug.isascii():
                raise ValueError(f"topics.{slug}: a topic slug is ASCII letters, digits, - or _")
        if self.retention.keep_days < self.digest.days_in_feed:
            raise ValueError("[retention] keep_days: must be at least [digest] days_in_feed, or published days would lose their stories")
        if self.websub.hub is not None:
            _http_url(self.websub.hub)
        for index, feed in enumerate(self.feeds):
            if feed.topic is not None and feed.topic not in self.topics:
                raise ValueError(f"feeds[{index}].topic: no topic {feed.topic!r} in [topics]")
            _check_source(f"[[feeds]] #{index + 1}", feed)
        return self


def _check_source(where: str, feed: FeedSettings) -> None:
    if feed.kind == "html" and feed.selectors is None:
        raise ValueError(f'{where} kind = "html" needs a [feeds.selectors] table with at least item, title and link')
    if feed.kind != "html" and feed.selectors is not None:
        raise ValueError(f'{where} selectors: only a news-list page has selectors; add kind = "html"')
    if feed.kind != "telegram" and feed.channel is not None:
        raise ValueError(f'{where} channel: only a Telegram source has a channel; add kind = "telegram"')
    if feed.publish == "full_text" and not feed.full_text:
        raise ValueError(f'{where} publish = "full_text" needs full_text = true (the text must be fetched to be offered)')


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read, validate and return the settings; raise ConfigError naming the bad key."""
    env = dict(os.environ) if env is None else env
    config_path = _find_config(path, env)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{config_path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
    if env.get("AGGREGATOR_DATABASE_URL"):
        raw.setdefault("database", {})["url"] = env["AGGREGATOR_DATABASE_URL"]
    raw.setdefault("admin", {})
    for key, var in (
        ("password", "AGGREGATOR_ADMIN_PASSWORD"),
        ("token", "AGGREGATOR_ADMIN_TOKEN"),
        ("secret_key", "AGGREGATOR_SECRET_KEY"),
    ):
        if env.get(var):
            raw["admin"][key] = env[var]
    settings = settings_from_dict(raw, source=str(config_path), base_dir=config_path.parent)
    _refuse_database_in_package(settings.database.url, config_path)
    return settings


def settings_from_dict(raw: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None) -> Settings:
    """Validate an already-parsed configuration (tests build them in code)."""
    raw = dict(raw, source=source)
    if base_dir is not None and "database" in raw:
        raw["database"] = dict(raw["database"], url=_anchor_sqlite(raw["database"].get("url", ""), base_dir))
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc


def _find_config(path: str | os.PathLike[str] | None, env: dict[str, str]) -> Path:
    if path:
        return Path(path)
    if env.get("AGGREGATOR_CONFIG"):
        return Path(env["AGGREGATOR_CONFIG"])
    local = Path.cwd() / "config.toml"
    if local.exists():
        return local
    raise ConfigError(
        f"no configuration (no config.toml in {Path.cwd()}): give one with --config PATH or AGGREGATOR_CONFIG=PATH;"
        f" an example to copy is {EXAMPLE_CONFIG}"
    )


def _refuse_database_in_package(url: str, config_path: Path) -> None:
    """The packaged example's relative SQLite path would land in site-packages: say so instead."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and Path(url.removeprefix(prefix)).is_relative_to(PACKAGE_DIR):
        raise ConfigError(
            f"{config_path}: [database] url: the database would be inside the package ({PACKAGE_DIR});"
            " copy the file to a folder of your own (a relative SQLite path is relative to it) or set AGGREGATOR_DATABASE_URL"
        )


def _anchor_sqlite(url: str, base_dir: Path) -> str:
    """A relative SQLite path is relative to the config file, not to the working directory."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or url.startswith(prefix + "/") or ":memory:" in url:
        return url
    return prefix + str((base_dir / url[len(prefix) :]).resolve())


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = _key_name(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # a model's, a dataclass's
            message = "unknown key (check the spelling)"
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def _key_name(loc: tuple[int | str, ...]) -> str:
    """('polling', 'interval_minutes') -> '[polling] interval_minutes'; feeds get their index."""
    if not loc:
        return ""
    head, *rest = loc
    if head == "feeds" and rest:
        index, *rest = rest
        return (f"[[feeds]] #{int(index) + 1} " + ".".join(map(str, rest))).rstrip()
    if head == "topics" and rest:
        slug, *rest = rest
        return f"[topics.{slug}] " + ".".join(map(str, rest))
    if rest:
        return f"[{head}] " + ".".join(map(str, rest))
    return str(head)
