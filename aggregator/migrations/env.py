"""Alembic environment: migrations run on the connection `aggregator.storage.migrate` hands in."""

from alembic import context

from aggregator.storage.models import Base


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN201 - Alembic's hook
    """The full-text search table (SQLite) and index (PostgreSQL) are made by hand, not by models."""
    return not ((type_ == "table" and name.startswith("items_fts")) or (type_ == "index" and name == "ix_items_search"))


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
