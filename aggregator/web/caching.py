"""HTTP validators for pages and feeds: a strong ETag from the body, Last-Modified from the
data, and 304 Not Modified for clients that already have this version."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Response, request


def conditional(body: bytes | str, mimetype: str, last_modified: datetime | None = None, max_age: int = 60) -> Response:
    data = body.encode("utf-8") if isinstance(body, str) else body
    response = Response(data, mimetype=mimetype)
    response.set_etag(hashlib.sha256(data).hexdigest()[:32])
    if last_modified is not None:
        response.last_modified = last_modified.replace(microsecond=0)
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response.make_conditional(request)
