"""The `aggregator` command through click's test runner."""

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from aggregator.cli import cli
from aggregator.settings import load_settings
from aggregator.storage import migrate


@pytest.fixture
def run(config_file):
    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(cli, ["--config", str(config_file), *args], catch_exceptions=False, **kwargs)

    return invoke


def test_poll_all_prints_a_summary_per_feed(run):
    result = run("poll", "--all")
    assert result.exit_code == 0, result.output
    assert "Томский вестник" in result.output
    assert "5 feeds polled, 9 new items, 0 failed." in result.output


def test_poll_exits_zero_when_a_feed_fails_and_reports_it(run, feed_server, config_file):
    assert run("feeds", "add", feed_server.base + "/missing.xml", "--name", "Пропавшая").exit_code == 0
    result = run("poll", "--all")
    assert result.exit_code == 0
    assert "ERROR http_404: HTTP 404 Not Found" in result.output
    assert "1 failed" in result.output


def test_a_second_poll_without_all_finds_nothing_due(run):
    run("poll", "--all")
    result = run("poll")
    assert "0 feeds polled" in result.output


def test_feeds_list_add_remove(run):
    run("poll", "--all")
    assert "Город-Т" in run("feeds", "list").output
    added = run("feeds", "add", "https://new.example/rss", "--name", "Новая лента")
    assert "Added feed" in added.output
    assert "Новая лента" in run("feeds", "list").output
    assert "Removed feed" in run("feeds", "remove", "https://new.example/rss").output
    assert "Новая лента" not in run("feeds", "list").output
    assert run("feeds", "remove", "https://nowhere.example/").exit_code == 1


def test_opml_export_then_import_round_trips(run, tmp_path):
    exported = run("opml", "export").stdout_bytes
    assert exported.count(b"<outline") == 5
    opml = tmp_path / "other.opml"
    opml.write_bytes(exported.replace(b"127.0.0.1", b"localhost"))
    assert "Imported 5 feeds." in run("opml", "import", str(opml)).output
    assert run("feeds", "list").output.count("localhost") == 5


def test_a_bad_config_stops_with_the_key_named(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[polling]\nconcurrency = -1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "poll"])
    assert result.exit_code == 1
    assert "[polling] concurrency" in result.output


def test_db_upgrade_migrates_and_names_the_revision_it_reached(run, config_file):
    result = run("db", "upgrade")
    assert result.exit_code == 0
    assert result.output.startswith(f"Database at revision {migrate.head()} (the newest): ")
    assert _revision_of(config_file) == migrate.head()


def test_db_downgrade_goes_back_and_upgrade_returns(run, config_file):
    run("db", "upgrade")
    assert run("db", "downgrade", "0001").output.startswith("Database at revision 0001: ")
    assert _revision_of(config_file) == "0001"
    assert "(the newest)" in run("db", "upgrade").output


def test_db_upgrade_to_an_unknown_revision_stops_with_alembics_message(run):
    result = run("db", "upgrade", "9999")
    assert result.exit_code == 1 and "Can't locate revision identified by '9999'" in result.output


def test_without_any_configuration_a_command_says_in_one_line_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["poll"])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: no configuration") and "--config PATH or AGGREGATOR_CONFIG=PATH" in line


def test_reclassify_recomputes_stored_items(run):
    run("poll", "--all")
    result = run("reclassify")
    assert result.exit_code == 0 and "Reclassified 9 items" in result.output


def test_prune_keeps_recent_stories(run):
    run("poll", "--all")
    result = run("prune")
    assert result.exit_code == 0 and "Pruned 0 stories and 0 items older than 180 days." in result.output


def _revision_of(config_file) -> str | None:
    engine = create_engine(load_settings(config_file, env={}).database.url)
    try:
        return migrate.current(engine)
    finally:
        engine.dispose()
