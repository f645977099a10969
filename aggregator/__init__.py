"""Regional news aggregator: polls a region's feeds, groups items into topics and stories,
and republishes them as curated Atom feeds, a digest page and a JSON API.

`create_app()` is the Flask application factory; `aggregator.cli` is the command line. The
pages' templates and static files are the package's own (`aggregator/templates`,
`aggregator/static`: links to the repository's folders in a checkout, copies in the wheel).
"""

from __future__ import annotations

import os

# numpy's OpenBLAS would start a thread per core for the small products of story grouping and
# spin them: measured on 2 busy cores, 3.4 ms of CPU per product instead of 0.29 ms, and
# `poll --all` 33 instead of 8-9 ms of CPU per item. Set before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from flask import Flask

from aggregator.service import Service
from aggregator.settings import Settings, load_settings


def create_app(settings: Settings | None = None, service: Service | None = None) -> Flask:
    """Build the web app. Nothing is started: the scheduler belongs to `serve`/`worker`."""
    if service is None:
        service = Service(settings or load_settings()).prepare()
    app = Flask(__name__)  # templates/ and static/ beside this module, wherever it is installed
    app.extensions["aggregator"] = service
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    from aggregator import web

    web.init_app(app)
    return app
