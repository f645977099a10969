"""`aggregator serve`: the app under gunicorn in one process with threads, so the embedded
scheduler runs exactly once beside it. Several web workers are for `gunicorn
'aggregator:create_app()'` with pollers in `aggregator worker` (see README)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config


class _OneProcess(BaseApplication):
    def __init__(self, build: Callable[[], Flask], options: dict[str, object]) -> None:
        self._build = build
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._build()


def serve_app(build: Callable[[], Flask], host: str, port: int, threads: int = 8) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 120,
        "graceful_timeout": 10,
    }
    if "control_socket_disable" in Config().settings:  # gunicorn >= 27 would open a control socket in $HOME
        options["control_socket_disable"] = True
    _OneProcess(build, options).run()
