"""Configuration: one clear message naming the bad key, and the documented overrides."""

from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.settings import EXAMPLE_CONFIG, REPO_ROOT, load_settings, settings_from_dict


def test_the_repository_config_is_valid_and_describes_tomsk():
    settings = load_settings(Path(__file__).parent.parent / "config.toml", env={})
    assert settings.service.timezone == "Asia/Tomsk"
    assert list(settings.topics) == ["economy", "city", "transport", "politics", "incidents", "science", "culture", "sport", "health"]
    assert len(settings.feeds) >= 5
    assert settings.polling.allow_private_addresses is False


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"polling": {"interval_minutes": "often"}}, "[polling] interval_minutes"),
        ({"polling": {"concurrency": 0}}, "[polling] concurrency"),
        ({"polling": {"intreval_minutes": 5}}, "[polling] intreval_minutes: unknown key"),
        ({"service": {"timezone": "Mars/Olympus"}}, "[service] timezone"),
        ({"service": {"base_url": "news.example"}}, "[service] base_url"),
        ({"feeds": [{"url": "ftp://x.example/rss", "name": "x"}]}, "[[feeds]] #1 url"),
        ({"feeds": [{"url": "https://x.example/rss"}]}, "[[feeds]] #1 name"),
        ({"topics": {"sport": {"keywords": ["матч"]}}}, "[topics.sport] title"),
    ],
)
def test_a_bad_value_stops_with_a_message_naming_the_key(raw, named):
    with pytest.raises(ConfigError) as error:
        settings_from_dict(raw, source="config.toml")
    assert named in str(error.value)
    assert str(error.value).startswith("config.toml: ")


def test_a_feed_topic_hint_must_name_a_configured_topic():
    raw = {"topics": {"sport": {"title": "Спорт"}}, "feeds": [{"url": "https://x.example/", "name": "x", "topic": "sports"}]}
    with pytest.raises(ConfigError, match=r"feeds\[0\].topic"):
        settings_from_dict(raw)


def test_environment_overrides_database_and_config_path(tmp_path):
    path = tmp_path / "region.toml"
    path.write_text('[service]\ntitle = "Другой регион"\ntimezone = "Europe/Moscow"\n', encoding="utf-8")
    settings = load_settings(env={"AGGREGATOR_CONFIG": str(path), "AGGREGATOR_DATABASE_URL": "sqlite:////tmp/other.db"})
    assert settings.service.title == "Другой регион"
    assert settings.database.url == "sqlite:////tmp/other.db"


def test_a_relative_sqlite_path_is_relative_to_the_config_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[database]\nurl = "sqlite:///data/news.db"\n', encoding="utf-8")
    assert load_settings(path, env={}).database.url == f"sqlite:///{tmp_path / 'data' / 'news.db'}"


def test_broken_toml_is_reported_with_the_file_name(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[service\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, env={})


def test_a_config_toml_in_the_working_directory_is_read_when_none_is_named(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text('[service]\ntitle = "Здешний регион"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).service.title == "Здешний регион"


def test_with_no_config_anywhere_the_error_says_how_to_give_one_and_names_the_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_settings(env={})
    message = str(error.value)
    assert "--config PATH or AGGREGATOR_CONFIG=PATH" in message and str(tmp_path) in message
    assert message.endswith(str(EXAMPLE_CONFIG)) and "\n" not in message


def test_the_packaged_example_is_the_repository_config_but_never_keeps_a_database_in_the_package():
    assert EXAMPLE_CONFIG.read_bytes() == (REPO_ROOT / "config.toml").read_bytes()
    with pytest.raises(ConfigError, match=r"\[database\] url: the database would be inside the package"):
        load_settings(EXAMPLE_CONFIG, env={})
    settings = load_settings(EXAMPLE_CONFIG, env={"AGGREGATOR_DATABASE_URL": "sqlite:////tmp/elsewhere.db"})
    assert settings.database.url == "sqlite:////tmp/elsewhere.db"
