"""The web layer: one blueprint per area, thin views over the storage facade and publishers.

`init_app` wires every part explicitly: filters, editors' auth, the page cache (in front of
the reader pages, curated feeds and public API), the blueprints and the error handlers.

Domain errors become HTTP statuses here and only here: NotFound -> 404, InvalidRequest ->
400, answered as JSON for API clients and as a page for browsers.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from aggregator.errors import InvalidRequest, NotFound
from aggregator.web import admin, admin_api, api, auth, caching, feeds, formatting, health, pages
from aggregator.web.current import service, service_of

CACHED_BLUEPRINTS = ("pages", "feeds", "api")


def init_app(app: Flask) -> None:
    svc = service_of(app)
    settings = svc.settings
    formatting.init_app(app, settings.service.language, settings.service.tz)
    auth.init_app(app, settings.admin, secure_cookies=settings.service.base_url.startswith("https://"))
    caching.init_app(app, svc.storage, lambda: svc.clock(), settings.service.tz, CACHED_BLUEPRINTS, SECURITY_HEADERS)
    for module in (pages, feeds, api, admin_api, admin, health):
        app.register_blueprint(module.bp)
    app.register_error_handler(NotFound, lambda exc: _error(404, str(exc)))
    app.register_error_handler(InvalidRequest, lambda exc: _error(400, str(exc)))
    app.register_error_handler(HTTPException, lambda exc: _error(exc.code or 500, exc.description or exc.name))
    app.register_error_handler(CSRFError, lambda exc: _error(400, f"the form has expired or lacks its CSRF token: {exc.description}"))
    app.after_request(_security_headers)
    app.context_processor(_globals)


def _error(status: int, message: str) -> ResponseReturnValue:
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return {"error": message, "status": status}, status
    return render_template("error.html", status=status, message=message), status


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: http: data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _globals() -> dict:
    svc = service()
    return {"site_title": svc.settings.service.title, "topics": svc.topic_titles, "language": svc.settings.service.language}
