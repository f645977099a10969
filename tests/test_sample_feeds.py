"""The bundled regional sample feeds (demo/feeds) through the whole pipeline, compared with
their expected results (demo/feeds/expected.json)."""

import json
from datetime import timedelta

import pytest

from aggregator import create_app
from aggregator.settings import settings_from_dict
from conftest import NOW, config_dict
from demo.render import FEEDS_DIR, feed_files, render_feed

EXPECTED = json.loads((FEEDS_DIR / "expected.json").read_text(encoding="utf-8"))
MIME = {"rss2": "application/rss+xml", "atom": "application/atom+xml", "rss1": "application/rdf+xml"}


@pytest.fixture
def demo_service(tmp_path, feed_server, make_service):
    feeds = {}
    for spec in EXPECTED["feeds"]:
        body = render_feed(FEEDS_DIR / spec["file"], NOW)
        feeds[spec["outlet"]] = feed_server.serve("/" + spec["file"], body, content_type=MIME[spec["format"]])
    assert len(feeds) == len(feed_files())
    service = make_service(settings_from_dict(config_dict(tmp_path, feeds)))
    outcome = service.poll(include_all=True)
    assert outcome.failed == 0, [f.error for f in outcome.feeds]
    return service


@pytest.fixture
def stored(demo_service):
    return {item.url: item for item in demo_service.storage.reads.items_page(1000).rows}


def expected_items():
    return [(spec["outlet"], item) for spec in EXPECTED["feeds"] for item in spec["items"]]


def test_every_sample_item_is_stored_once_under_its_canonical_url(stored):
    assert sorted(stored) == sorted(item["canonical_url"] for _, item in expected_items())


def test_titles_outlets_dates_and_images_come_out_as_published(stored):
    for outlet, want in expected_items():
        got = stored[want["canonical_url"]]
        assert got.title == want["title"]
        assert got.feed_name == outlet
        assert bool(got.image_url) == want["has_image"], want["id"]
        if want["has_date"]:
            assert got.published == (NOW - timedelta(minutes=want["age_minutes"])).replace(second=0), want["id"]
        else:
            assert got.published == NOW


def test_html_is_sanitised_and_links_resolved_against_the_article(stored):
    html = " ".join(item.content_html for item in stored.values())
    assert "<script" not in html and "onerror" not in html
    assert 'href="https://tom-express.example/news/123"' in html
    assert "utm_source" not in " ".join(stored)


def test_primary_topics_match_an_editor_on_the_samples(stored):
    pairs = [(want["topic"], stored[want["canonical_url"]].topic) for _, want in expected_items()]
    accuracy = sum(a == b for a, b in pairs) / len(pairs)
    assert accuracy >= 0.85, [p for p in pairs if p[0] != p[1]]


def test_advertising_stays_stored_but_out_of_stories_feeds_and_digest(demo_service, stored):
    ads = [want for _, want in expected_items() if want["sponsored"]]
    assert ads
    client = create_app(service=demo_service).test_client()
    atom = client.get("/feeds/all.atom").data.decode()
    digest = client.get("/").data.decode()
    for want in ads:
        item = stored[want["canonical_url"]]
        assert item.story_id is None
        assert want["title"] not in atom and want["title"] not in digest
    flagged = [i for i in client.get("/api/items?limit=500").json["items"] if i["sponsored"]]
    assert sorted(i["url"] for i in flagged) == sorted(want["canonical_url"] for want in ads)


def test_outlets_reporting_the_same_event_share_a_story(stored):
    """Pairwise on the bundled samples: pairs an editor would group, and near misses kept apart."""
    truth = {want["canonical_url"]: want["story"] for _, want in expected_items() if not want["sponsored"]}
    urls = sorted(truth)
    same_truth = same_both = same_ours = 0
    for i, a in enumerate(urls):
        for b in urls[i + 1 :]:
            ours = stored[a].story_id == stored[b].story_id
            theirs = truth[a] is not None and truth[a] == truth[b]
            same_truth += theirs
            same_ours += ours
            same_both += ours and theirs
    precision, recall = same_both / same_ours, same_both / same_truth
    print(f"\nsample stories: pairwise precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.9
