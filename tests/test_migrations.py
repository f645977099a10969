"""Schema migrations: from empty to the models exactly, and from the previous revision with
data in it, on whichever database the suite runs."""

from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from aggregator.storage import Storage, migrate
from aggregator.storage.models import Base
from conftest import database_url


def test_migrations_from_empty_build_exactly_the_models(tmp_path):
    engine = create_engine(database_url(tmp_path))
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _not_search_tables})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_an_upgrade_keeps_the_data_of_the_previous_revision(tmp_path):
    url = database_url(tmp_path)
    engine = create_engine(url)
    migrate.upgrade(engine, "0001")
    now = datetime(2026, 11, 25, 10, 0)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feeds (id, url, name, from_config, enabled, status, consecutive_errors, created_at)"
                " VALUES (1, 'https://old.example/rss', 'Старая лента', true, true, 'ok', 0, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO stories (id, title, first_published_at, updated_at, item_count, hidden)"
                " VALUES (1, 'Пожар на Гоголя', :now, :now, 1, false)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO items (id, feed_id, story_id, guid, url, canonical_url, title, summary, content_html, categories,"
                " content_hash, published_at, fetched_at, updated_at, topic, topic_confidence, search_lemmas, sponsored,"
                " hidden, topic_locked) VALUES (1, 1, 1, 'g1', 'https://old.example/1', 'https://old.example/1',"
                " 'Пожар на Гоголя', 'Сгорел дом', '', '[]', 'h', :now, :now, :now, 'incidents', 0.9, 'пожар гоголь', false,"
                " false, false)"
            ),
            {"now": now},
        )
    engine.dispose()

    storage = Storage(url)
    storage.create_schema()  # what every start does: upgrade to head
    assert migrate.current(storage.engine) == migrate.head()
    (story,) = storage.reads.stories_page(10).rows
    assert story.title == "Пожар на Гоголя" and story.items[0].url == "https://old.example/1"
    assert [i.title for i in storage.reads.items_page(10, topic=None).rows] == ["Пожар на Гоголя"]
    assert [f.name for f in storage.feeds.list()] == ["Старая лента"]
    storage.close()


def test_the_feed_image_column_comes_and_goes_with_its_revision_keeping_the_feeds(tmp_path):
    engine = create_engine(database_url(tmp_path))
    migrate.upgrade(engine, "0003")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feeds (id, url, name, from_config, enabled, status, consecutive_errors, created_at, image_url)"
                " VALUES (1, 'https://t.me/s/gorod', '@gorod', true, true, 'ok', 0, :now, 'https://cdn.example/a.jpg')"
            ),
            {"now": datetime(2026, 12, 4, 10, 0)},
        )
    assert migrate.downgrade(engine, "0002") == "0002"
    assert "image_url" not in _feed_columns(engine)
    migrate.upgrade(engine, "0003")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name, image_url FROM feeds")).all() == [("@gorod", None)]
    engine.dispose()


def test_a_new_revision_is_numbered_after_the_head_and_empty_while_the_models_match(tmp_path):
    engine = create_engine(database_url(tmp_path))
    migrate.upgrade(engine)
    (tmp_path / "versions").mkdir()
    written = migrate.revision(engine, "Nothing changed", version_path=tmp_path / "versions")
    engine.dispose()
    head = migrate.head()
    assert written == tmp_path / "versions" / f"{int(head) + 1:04d}_nothing_changed.py"
    script = written.read_text(encoding="utf-8")
    assert f"down_revision = {head!r}" in script and "op." not in script


def _feed_columns(engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("feeds")}


def _not_search_tables(obj, name, type_, reflected, compare_to) -> bool:
    return not ((type_ == "table" and name.startswith("items_fts")) or (type_ == "index" and name == "ix_items_search"))
