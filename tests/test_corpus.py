"""Every third-party document of ../shared/corpus through parse and normalise: no exception
escapes, and real Russian feeds give readable items. Skipped when ../shared is absent."""

import warnings
from datetime import UTC, datetime

import feedparser
import pytest

from aggregator.entities import Fetched
from aggregator.errors import ParseError
from aggregator.pipeline.normalise import normalise_feed, plain_text
from aggregator.pipeline.parse import parse_feed
from conftest import SHARED

CORPUS = SHARED / "corpus"
NOW = datetime(2026, 11, 25, tzinfo=UTC)
pytestmark = [pytest.mark.corpus, pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")]


def documents():
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in {".md", ".py"})


def run(path):
    fetched = Fetched(url=f"https://corpus.example/{path.name}", status=200, body=path.read_bytes())
    try:
        return normalise_feed(parse_feed(fetched), NOW)
    except ParseError:
        return None


def test_the_whole_corpus_goes_through_without_an_exception(capsys):
    docs = documents()
    assert len(docs) > 2000
    results = {path: run(path) for path in docs}
    with capsys.disabled():
        print(f"\ncorpus: {sum(1 for r in results.values() if r)} of {len(docs)} documents produced items")
    titled = [path for path in docs if _has_titled_entry(path)]
    assert titled and [path.name for path in titled if not results[path]] == []


def _has_titled_entry(path) -> bool:
    """Whether feedparser alone finds an entry with a text title: we must give an item then."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = feedparser.parse(path.read_bytes())
    return any(plain_text(entry.get("title") or "") for entry in parsed.entries)


@pytest.mark.parametrize("name", ["lenta_1.xml", "meduza_1.xml", "oren_1.xml", "ibash_1.xml", "tutby_1.xml"])
def test_real_russian_feeds_come_out_readable(name):
    (path,) = [p for p in documents() if p.name == name]
    items = run(path)
    assert items, name
    cyrillic = sum(1 for item in items if any("а" <= ch <= "я" for ch in item.title.lower()))
    assert cyrillic >= len(items) * 0.9, [i.title for i in items[:3]]
