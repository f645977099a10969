"""Bundled sample feeds of six invented Tomsk-region outlets and a local demo of the aggregator.

`demo.render` turns the feed templates in `demo/feeds/` into feeds dated relative to now,
`demo.server` serves them over HTTP, `python -m demo` runs the aggregator against them and
`python -m demo.check_feeds` verifies the feeds against `demo/feeds/expected.json`.
"""
