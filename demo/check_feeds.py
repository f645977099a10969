"""Self-check of the bundled feeds: `python -m demo.check_feeds`.

Renders every feed with the current time, parses it with feedparser and compares it with
`demo/feeds/expected.json` (item count, ids, links, titles, dates, images, sponsored marks,
readable Cyrillic in the windows-1251 and koi8-r feeds); checks the coverage the tests rely on
(every topic, stories told by 2-4 outlets); and checks the HTTP server's conditional GET.
Prints what is wrong and exits 1, or prints a summary and exits 0.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from demo.render import FEEDS_DIR, feed_files, render_feed
from demo.server import serve_feeds

VERSIONS = {"rss2": "rss20", "atom": "atom10", "rss1": "rss10"}
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def load_expected() -> dict[str, Any]:
    return json.loads((FEEDS_DIR / "expected.json").read_text(encoding="utf-8"))


def has_image(entry: Any) -> bool:
    enclosures = [e for e in entry.get("enclosures", []) if e.get("type", "").startswith("image/")]
    return bool(enclosures or entry.get("media_content") or "<img" in entry.get("summary", ""))


def check_feed(feed: dict[str, Any], now: datetime) -> list[str]:
    """Problems found in one rendered feed, compared with its expected.json entry."""
    name = feed["file"]
    body = render_feed(FEEDS_DIR / name, now)
    problems = []
    if b"{{" in body:
        problems.append(f"{name}: placeholder left after rendering")
    parsed = feedparser.parse(body)
    if parsed.bozo:
        problems.append(f"{name}: bozo: {parsed.bozo_exception!r}")
    if parsed.version != VERSIONS[feed["format"]]:
        problems.append(f"{name}: version {parsed.version}, expected {VERSIONS[feed['format']]}")
    if parsed.get("encoding", "").lower() != feed["encoding"]:
        problems.append(f"{name}: encoding {parsed.get('encoding')}, expected {feed['encoding']}")
    if parsed.feed.get("title") != feed["outlet"]:
        problems.append(f"{name}: feed title {parsed.feed.get('title')!r}")
    if len(parsed.entries) != len(feed["items"]):
        problems.append(f"{name}: {len(parsed.entries)} entries, expected {len(feed['items'])}")
    for entry, item in zip(parsed.entries, feed["items"], strict=False):  # a count that differs is reported above
        where = f"{name} {item['id']}"
        if entry.get("id", entry.get("link")) != item["id"] or entry.get("id") != item["guid"]:
            problems.append(f"{where}: id {entry.get('id')!r}")
        if entry.get("link") != item["link"]:
            problems.append(f"{where}: link {entry.get('link')!r}")
        title = entry.get("title", "")
        if title != item["title"]:
            problems.append(f"{where}: title {title!r} != {item['title']!r}")
        if not CYRILLIC.search(title) or "\ufffd" in title:
            problems.append(f"{where}: title is not readable Cyrillic: {title!r}")
        parsed_date = entry.get("published_parsed") or entry.get("updated_parsed")
        if bool(parsed_date) != item["has_date"]:
            problems.append(f"{where}: has a date: {bool(parsed_date)}")
        elif parsed_date:
            published = datetime(*parsed_date[:6], tzinfo=UTC)
            if published != now - timedelta(minutes=item["age_minutes"]):
                problems.append(f"{where}: published {published.isoformat()}")
        if has_image(entry) != item["has_image"]:
            problems.append(f"{where}: has an image: {has_image(entry)}")
        sponsored = "erid:" in entry.get("summary", "") and "Реклама" in entry.get("summary", "")
        if sponsored != item["sponsored"]:
            problems.append(f"{where}: sponsored: {sponsored}")
        if "<script" in entry.get("summary", ""):
            problems.append(f"{where}: feedparser left a <script> in the summary")
    return problems


def check_coverage(expected: dict[str, Any]) -> list[str]:
    """The corpus properties tests rely on: topics, stories and near misses."""
    problems = []
    items = [(f["file"], i) for f in expected["feeds"] for i in f["items"]]
    topics = Counter(i["topic"] for _, i in items)
    for slug in expected["topics"]:
        if topics[slug] < 6:
            problems.append(f"topic {slug}: only {topics[slug]} items")
    for key, members in expected["stories"].items():
        files = [m["file"] for m in members]
        if not 2 <= len(files) <= 4 or len(set(files)) != len(files):
            problems.append(f"story {key}: outlets {files}")
        if len({i["topic"] for f, i in items if i["story"] == key}) != 1:
            problems.append(f"story {key}: members disagree on the topic")
    ids = {i["id"] for _, i in items}
    if len(ids) != len(items):
        problems.append("item ids are not unique")
    for miss in expected["near_misses"]:
        if any(i not in ids for group in miss["groups"] for i in group):
            problems.append(f"near miss {miss['reason']!r}: unknown id")
    listed = sorted(f["file"] for f in expected["feeds"])
    if listed != [p.name for p in feed_files()]:
        problems.append(f"expected.json lists {listed}, the directory has {[p.name for p in feed_files()]}")
    return problems


def check_server(expected: dict[str, Any]) -> list[str]:
    """Every feed is served with its Content-Type, and a conditional GET gets a 304."""
    problems = []
    started = datetime.now(UTC)
    server, base = serve_feeds(lambda: started)
    try:
        for feed in expected["feeds"]:
            url = f"{base}/{feed['file']}"
            with urllib.request.urlopen(url) as response:
                ctype, etag = response.headers["Content-Type"], response.headers["ETag"]
                modified = response.headers["Last-Modified"]
                if f"charset={feed['encoding']}" not in ctype:
                    problems.append(f"{url}: Content-Type {ctype}")
                if response.read() != render_feed(FEEDS_DIR / feed["file"], started.replace(second=0, microsecond=0)):
                    problems.append(f"{url}: body differs from render_feed")
            for header, value in (("If-None-Match", etag), ("If-Modified-Since", modified)):
                try:
                    urllib.request.urlopen(urllib.request.Request(url, headers={header: value}))
                    problems.append(f"{url}: {header} did not give 304")
                except urllib.error.HTTPError as err:
                    if err.code != 304:
                        problems.append(f"{url}: {header} gave {err.code}")
    finally:
        server.shutdown()
        server.server_close()
    return problems


def main() -> int:
    expected = load_expected()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    problems = check_coverage(expected) + check_server(expected)
    for feed in expected["feeds"]:
        problems += check_feed(feed, now)
    for problem in problems:
        print(problem)
    if problems:
        print(f"FAILED: {len(problems)} problem(s)")
        return 1
    items = [i for f in expected["feeds"] for i in f["items"]]
    print(f"OK: {len(expected['feeds'])} feeds, {len(items)} items, {len(expected['stories'])} stories")
    for feed in expected["feeds"]:
        print(f"  {feed['file']:<22} {feed['format']:<5} {feed['encoding']:<13} {len(feed['items']):>3}  {feed['outlet']}")
    print("  topics: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(i["topic"] for i in items).items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
