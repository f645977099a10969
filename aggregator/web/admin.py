"""Admin pages: log in, see recent items with their topics, correct them, manage feeds,
and undo any correction. Every form carries a CSRF token; every action is recorded."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from aggregator import editing
from aggregator.errors import AggregatorError
from aggregator.storage.editorial import ActionView
from aggregator.web.auth import LoginThrottle, admin_settings, check_password, editor_required
from aggregator.web.current import service

bp = Blueprint("admin", __name__, url_prefix="/admin")
RECENT_ITEMS, RECENT_ACTIONS = 100, 30


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    admin = admin_settings()  # admin off never gets here: auth answers 404
    if request.method == "GET":
        return render_template("admin/login.html")
    throttle = _throttle()
    address = request.remote_addr or "?"
    if throttle.blocked(address):
        abort(429, "too many failed logins from this address; try again later")
    if not check_password(admin, request.form.get("username", ""), request.form.get("password", "")):
        throttle.failed(address)
        return render_template("admin/login.html", error="Неверное имя или пароль"), 401
    throttle.succeeded(address)
    session.clear()
    session["editor"] = admin.username
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("pages.digest_today"))


@bp.get("/")
@editor_required
def dashboard() -> ResponseReturnValue:
    svc = service()
    items = svc.storage.reads.recent_items(RECENT_ITEMS)
    actions = svc.storage.editorial.history(limit=RECENT_ACTIONS)
    return render_template("admin/dashboard.html", items=items, actions=actions, feeds=svc.storage.feeds.list(svc.clock()))


@bp.post("/items/<int:item_id>/<action>")
@editor_required
def item_action(item_id: int, action: str) -> ResponseReturnValue:
    form = request.form
    story_id = int(form["story_id"]) if form.get("story_id", "").isdigit() else None
    return _run(lambda who: editing.apply(service(), who, action, item_id=item_id, story_id=story_id, topic=form.get("topic")))


@bp.post("/stories/<int:story_id>/<action>")
@editor_required
def story_action(story_id: int, action: str) -> ResponseReturnValue:
    return _run(lambda who: editing.apply(service(), who, action, story_id=story_id))


@bp.post("/actions/<int:action_id>/undo")
@editor_required
def undo(action_id: int) -> ResponseReturnValue:
    return _run(lambda who: editing.undo(service(), who, action_id))


@bp.post("/feeds")
@editor_required
def add_feed() -> ResponseReturnValue:
    svc = service()
    url, name = request.form.get("url", "").strip(), request.form.get("name", "").strip()
    if not url.startswith(("http://", "https://")) or not name:
        flash("Нужны адрес ленты (http или https) и название источника")
    else:
        svc.storage.feeds.add(url, name, svc.clock())
        flash(f"Лента «{name}» добавлена")
    return redirect(url_for("admin.dashboard"))


@bp.post("/feeds/<int:feed_id>/remove")
@editor_required
def remove_feed(feed_id: int) -> ResponseReturnValue:
    removed = service().storage.feeds.remove(str(feed_id))
    flash(f"Лента «{removed.name}» удалена")
    return redirect(url_for("admin.dashboard"))


def _run(act: Callable[[str], ActionView]) -> ResponseReturnValue:
    try:
        done = act(session["editor"])
    except AggregatorError as exc:
        flash(f"Не получилось: {exc}")
        return redirect(url_for("admin.dashboard"), 303)
    flash(f"Готово: {done.action} (№{done.id})")
    return redirect(url_for("admin.dashboard"), 303)


def _throttle() -> LoginThrottle:
    return current_app.extensions["login_failures"]


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never another host."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("admin.dashboard")
