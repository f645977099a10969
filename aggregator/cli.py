"""The `aggregator` command: thin wrappers over the service, storage and publishers.

`--config PATH` (or AGGREGATOR_CONFIG, else ./config.toml) chooses the configuration; a
missing or bad one stops here with one line saying what to do or naming the key, before
anything starts.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, TypeVar

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from aggregator.entities import CycleOutcome
from aggregator.errors import AggregatorError
from aggregator.publish.opml import feeds_opml, parse_opml
from aggregator.service import Service
from aggregator.settings import load_settings, telegram_page
from aggregator.storage import Storage, migrate

if TYPE_CHECKING:  # for annotations only: the commands import what they need when they run
    from datetime import datetime, tzinfo

    from flask import Flask

    from aggregator.pipeline.retrieve import Retrieved


class Context:
    """Built lazily, so `--help` works without a valid configuration."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._service: Service | None = None

    @property
    def service(self) -> Service:
        if self._service is None:
            try:
                self._service = Service(load_settings(self.config)).prepare()
            except AggregatorError as exc:
                raise click.ClickException(str(exc)) from exc
            click.get_current_context().call_on_close(self._service.storage.close)
        return self._service

    def storage(self) -> Storage:
        """The database alone, as configured and not migrated (the `db` commands move it)."""
        try:
            storage = Storage.from_settings(load_settings(self.config))
        except AggregatorError as exc:
            raise click.ClickException(str(exc)) from exc
        click.get_current_context().call_on_close(storage.close)
        return storage


pass_ctx = click.make_pass_decorator(Context)
Reached = TypeVar("Reached")


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="AGGREGATOR_CONFIG", help="Path to config.toml.")
@click.option("-v", "--verbose", is_flag=True, help="Log every feed.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """Regional news aggregator."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Request threads.")
@click.option("--no-scheduler", is_flag=True, help="Serve only; separate `aggregator worker` processes poll.")
@pass_ctx
def serve(ctx: Context, host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Run the web service (gunicorn, one process), with the scheduler polling in it."""
    from aggregator import create_app, scheduler
    from aggregator.web.server import serve_app

    service = ctx.service

    def build() -> Flask:  # runs in the serving process
        service.storage.engine.dispose(close=False)  # connections opened before the fork stay with the parent
        if not no_scheduler:
            scheduler.start(service)
        return create_app(service=service)

    click.echo(f"Serving {service.settings.service.title} on http://{host}:{port}/")
    serve_app(build, host, port, threads)


@cli.command()
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve this worker's Prometheus metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics port listens on.")
@pass_ctx
def worker(ctx: Context, metrics_port: int | None, metrics_host: str) -> None:
    """Run the scheduler alone (no web), polling due feeds until stopped."""
    from aggregator import metrics, scheduler

    logging.getLogger().setLevel(logging.INFO)
    service = ctx.service
    if metrics_port:
        metrics.serve_worker_metrics(metrics_port, metrics_host)
        click.echo(f"Metrics on http://{metrics_host}:{metrics_port}/metrics")
    service.warm_up()  # before claiming feeds, so the first leases are not held through start-up
    click.echo("Worker started; Ctrl-C stops it.")
    try:
        scheduler.start(service, blocking=True)
    except (KeyboardInterrupt, SystemExit):
        click.echo("Worker stopped.")


@cli.command()
@click.option("--all", "include_all", is_flag=True, help="Poll every enabled feed, due or not.")
@pass_ctx
def poll(ctx: Context, include_all: bool) -> None:
    """Run one poll cycle and print what each feed gave."""
    service = ctx.service
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("Polling feeds", total=service.storage.feeds.count_due(service.clock(), include_all))
        outcome = service.poll(include_all, on_feed=lambda _: progress.advance(task))
    _print_cycle(outcome)


@cli.command()
@pass_ctx
def reclassify(ctx: Context) -> None:
    """Refit the topic model (with editors' corrections) and recompute every stored item's topics."""
    service = ctx.service
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("Reclassifying", total=None)
        count = service.reclassify(on_batch=lambda n: progress.advance(task, n))
    click.echo(f"Reclassified {count} items (items whose topic an editor set were kept).")


@cli.command()
@pass_ctx
def prune(ctx: Context) -> None:
    """Delete stories older than [retention] keep_days (the scheduler does it daily)."""
    pruned = ctx.service.prune()
    click.echo(f"Pruned {pruned.stories} stories and {pruned.items} items older than {ctx.service.settings.retention.keep_days} days.")


@cli.group()
def feeds() -> None:
    """List, add and remove feeds."""


@feeds.command("list")
@pass_ctx
def feeds_list(ctx: Context) -> None:
    table = Table("id", "name", "url", "status", "last error", "last fetched", "next check", "items", box=None)
    for feed in ctx.service.storage.feeds.list(ctx.service.clock()):
        table.add_row(
            str(feed.id),
            feed.name,
            feed.url,
            feed.status,
            feed.last_error or "",
            _when(feed.last_fetched),
            _when(feed.next_check),
            str(feed.items_total),
        )
    Console(width=200).print(table)


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="Outlet name shown to readers (default: the URL's host).")
@click.option("--topic", help="Topic hint for this feed's items.")
@pass_ctx
def feeds_add(ctx: Context, url: str, name: str | None, topic: str | None) -> None:
    service = ctx.service
    if topic and topic not in service.topic_titles:
        raise click.BadParameter(f"no topic {topic!r} in config", param_hint="--topic")
    channel_page = telegram_page(url)
    if channel_page is None and not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http(s) URL", param_hint="URL")
    if channel_page:
        feed = service.storage.feeds.add(
            channel_page, name or "@" + channel_page.rsplit("/", 1)[1], service.clock(), topic, kind="telegram"
        )
    else:
        feed = service.storage.feeds.add(url, name or url.split("/")[2], service.clock(), topic)
    click.echo(f"Added {'Telegram channel' if channel_page else 'feed'} {feed.id}: {feed.name} <{feed.url}>")


@feeds.command("remove")
@click.argument("feed")
@pass_ctx
def feeds_remove(ctx: Context, feed: str) -> None:
    """Remove FEED (an id or URL) and its items."""
    try:
        removed = ctx.service.storage.feeds.remove(feed)
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from exc
    note = " (it is still in config.toml: remove it there too, or it returns at the next start)" if removed.from_config else ""
    click.echo(f"Removed feed {removed.id}: {removed.name}{note}")


@feeds.command("test")
@click.argument("url")
@click.option("--html", "page", is_flag=True, help="URL is a news-list page read with the selectors below (implied by --item).")
@click.option("--item", help="Selector of each item's block (CSS, or XPath starting with / or ./).")
@click.option("--title", help="Selector of the title inside the block.")
@click.option("--link", help="Selector of the link inside the block.")
@click.option("--date", help="Selector of the date inside the block.")
@click.option("--summary", help="Selector of the summary inside the block.")
@click.option("--image", help="Selector of the picture inside the block.")
@click.option("--telegram", is_flag=True, help="URL is a public Telegram channel's web preview (implied by a t.me address).")
@click.option("--full-text", is_flag=True, help="Also fetch each item's article page and print its text.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1), help="Items to print (and articles to fetch).")
@pass_ctx
def feeds_test(ctx: Context, url: str, page: bool, telegram: bool, full_text: bool, limit: int, **selectors: str | None) -> None:
    """Fetch URL and print the items (and texts) it would give, saving nothing."""
    from datetime import UTC, datetime

    from pydantic import TypeAdapter, ValidationError

    from aggregator.entities import FeedForUpdate
    from aggregator.pipeline.retrieve import try_source
    from aggregator.selectors import PageSelectors

    page = page or any(selectors.values())
    channel_page = telegram_page(url)
    url, telegram = channel_page or url, telegram or channel_page is not None
    if page and telegram:
        raise click.UsageError("a Telegram channel is read without selectors: drop --html and the selectors")
    if page and not all(selectors[name] for name in ("item", "title", "link")):
        raise click.UsageError("a news-list page needs --item, --title and --link")
    try:
        settings = load_settings(ctx.config)
        chosen = TypeAdapter(PageSelectors).validate_python(selectors) if page else None
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValidationError as exc:
        raise click.UsageError("; ".join(f"--{e['loc'][0]}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())) from exc
    kind = "telegram" if telegram else "html" if page else "feed"
    source = FeedForUpdate(0, url, url, selectors=chosen, full_text=full_text, kind=kind)
    got = try_source(source, settings, datetime.now(UTC), limit)
    if got.error is not None:
        raise click.ClickException(f"{getattr(got.error, 'kind', 'error')}: {got.error}")
    _print_trial(got, settings.service.tz, limit)


def _print_trial(got: Retrieved, tz: tzinfo, limit: int) -> None:
    kind = {"telegram": "Telegram channel", "html": "news-list page"}.get(got.feed.kind, "feed")
    title = got.data.title if got.data and got.data.title else got.feed.url
    click.echo(f"{title} <{got.feed.url}>: a {kind} giving {len(got.items)} items")
    for note in got.notes:
        click.echo(f"Note ({note.kind}): {note.message}")
    for number, item in enumerate(got.items[:limit], 1):
        click.echo(f"\n{number}. {item.title}\n   {item.url}\n   {item.published.astimezone(tz):%Y-%m-%d %H:%M %Z}")
        for label, value in (("Summary", item.summary), ("Image", item.image_url)):
            if value:
                click.echo(f"   {label}: {value}")
        if item.full_text:
            click.echo("   Text:\n" + "\n".join(f"     {line}" for line in item.full_text.splitlines()))
        elif got.feed.full_text:
            click.echo("   Text: (none: see the note above)")


@cli.group()
def opml() -> None:
    """Import or export the feed list as OPML."""


@opml.command("import")
@click.argument("file", type=click.File("rb"))
@pass_ctx
def opml_import(ctx: Context, file: BinaryIO) -> None:
    service = ctx.service
    try:
        found = parse_opml(file.read())
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from exc
    for title, url in found:
        service.storage.feeds.add(url, title, service.clock())
    click.echo(f"Imported {len(found)} feeds.")


@opml.command("export")
@pass_ctx
def opml_export(ctx: Context) -> None:
    service = ctx.service
    feeds = [(f.name, f.url, f.site_url or f.url) for f in service.storage.feeds.list() if f.enabled]
    sys.stdout.buffer.write(feeds_opml(service.settings.service.title, service.clock(), feeds))


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_ctx
def db_upgrade(ctx: Context, revision: str) -> None:
    """Create the schema or bring it up to REVISION (default: the newest), and say which it reached."""
    storage = ctx.storage()
    _report_revision(storage, _alembic(migrate.upgrade, storage.engine, revision))


@db.command("downgrade")
@click.argument("revision")
@pass_ctx
def db_downgrade(ctx: Context, revision: str) -> None:
    """Undo migrations down to REVISION ("base": none), e.g. before going back to an older release.

    Stop the service first: every start of this release upgrades again."""
    storage = ctx.storage()
    _report_revision(storage, _alembic(migrate.downgrade, storage.engine, revision))


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the schema change is; names the file.")
@pass_ctx
def db_revision(ctx: Context, message: str) -> None:
    """For developers, in a checkout: write the next migration from the difference between the
    models and the configured database (which must be at the newest revision), to review by hand."""
    path = _alembic(migrate.revision, ctx.storage().engine, message)
    click.echo(f"Wrote {path}: review it (autogenerate misses renames and data changes), then run `aggregator db upgrade`.")


def _alembic(step: Callable[..., Reached], *args: object) -> Reached:
    """Run a migration step; Alembic's own errors (unknown revision, database not at head) end
    the command with their message."""
    from alembic.util import CommandError

    try:
        return step(*args)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from exc


def _report_revision(storage: Storage, reached: str | None) -> None:
    newest = " (the newest)" if reached == migrate.head() else ""
    click.echo(f"Database at revision {reached or 'base'}{newest}: {storage.engine.url.render_as_string(hide_password=True)}")


def _print_cycle(outcome: CycleOutcome) -> None:
    table = Table("feed", "new", "updated", "unchanged", "result", box=None)
    for feed in sorted(outcome.feeds, key=lambda f: f.name):
        result = "ok" if feed.ok else f"ERROR {feed.status}: {feed.error}"
        if feed.ok and feed.not_modified:
            result = "not modified"
        table.add_row(feed.name, str(feed.new), str(feed.updated), str(feed.unchanged), result)
    console = Console(width=200)
    console.print(table)
    console.print(f"{len(outcome.feeds)} feeds polled, {outcome.new} new items, {outcome.failed} failed.")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def main() -> None:
    cli(prog_name="aggregator")


if __name__ == "__main__":
    main()
