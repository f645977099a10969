"""Who is an editor: a session after a password login (admin pages, CSRF-protected forms),
or a bearer token (the editorial API, which takes no cookies and so needs no CSRF token).

Failed logins are counted per client address; past the limit, logins from that address
are refused for a while (429). With no password and no token configured, admin is off: every
admin page and editorial API path answers 404, as if it did not exist (a feature switched off
on purpose is no server failure to alert on or retry).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from functools import wraps

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from werkzeug.security import check_password_hash

from aggregator.settings import AdminSettings

log = logging.getLogger(__name__)
csrf = CSRFProtect()
ADMIN_PREFIXES = ("/admin", "/api/admin")  # the url_prefix of the `admin` and `admin_api` blueprints


def init_app(app: Flask, admin: AdminSettings, secure_cookies: bool) -> None:
    secret = admin.secret_key
    if not secret:
        secret = secrets.token_hex(32)
        if admin.enabled:
            log.warning("no AGGREGATOR_SECRET_KEY: sessions last only as long as this process")
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.before_request(_admin_off_is_not_found)  # before CSRF's hook: a form posted to admin off is 404 too
    csrf.init_app(app)
    app.extensions["login_failures"] = LoginThrottle(admin.max_failed_logins, admin.lockout_minutes * 60)


class LoginThrottle:
    """Failed logins per address within a sliding window."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit, self.window = limit, window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, address: str) -> bool:
        failures = self._failures[address]
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        return len(failures) >= self.limit

    def failed(self, address: str) -> None:
        self._failures[address].append(time.monotonic())

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


def _admin_off_is_not_found() -> None:
    """Admin off: any path under the admin prefixes is 404, whatever the method (not 405, not a
    redirect to add a slash), so nothing tells that the paths exist."""
    path = request.path
    if any(path == prefix or path.startswith(prefix + "/") for prefix in ADMIN_PREFIXES) and not admin_settings().enabled:
        abort(404)


def admin_settings() -> AdminSettings:
    return current_app.extensions["aggregator"].settings.admin


def check_password(admin: AdminSettings, username: str, password: str) -> bool:
    if not hmac.compare_digest(username.encode(), admin.username.encode()):
        return False
    if admin.password_hash:
        return check_password_hash(admin.password_hash, password)
    return bool(admin.password) and hmac.compare_digest(password.encode(), (admin.password or "").encode())


def editor_from_token() -> str | None:
    admin = admin_settings()
    header = request.headers.get("Authorization", "")
    if admin.token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), admin.token.encode()):
        return f"{admin.username} (token)"
    return None


def editor_required(view: Callable) -> Callable:
    """Admin pages: a logged-in session, else the login page."""

    @wraps(view)
    def wrapped(*args: object, **kwargs: object) -> ResponseReturnValue:
        if not session.get("editor"):
            return redirect(url_for("admin.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def token_required(view: Callable) -> Callable:
    """Editorial API: a bearer token, nothing else."""

    @wraps(view)
    def wrapped(*args: object, **kwargs: object) -> ResponseReturnValue:
        editor = editor_from_token()
        if editor is None:
            abort(401, "a valid 'Authorization: Bearer <token>' header is required (AGGREGATOR_ADMIN_TOKEN)")
        return view(editor, *args, **kwargs)

    return wrapped
