"""gunicorn settings for the web app alone: `gunicorn -c gunicorn.conf.py` (gunicorn also reads
./gunicorn.conf.py by itself when started in the repository).

- The app is `aggregator:create_app()`, built once in the master (`preload_app`), so the
  schema check and the feed-list sync of `Service.prepare` run once, not once per worker;
  each worker then drops the database connections it inherited (`post_fork`).
- The web app never starts the scheduler: under gunicorn, feeds are polled by separate
  `aggregator worker` processes. Only `aggregator serve` embeds a scheduler.
- Prometheus: every worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR (a fresh
  temporary folder unless the environment names one, e.g. systemd's RuntimeDirectory), and
  /metrics sums them, whichever worker answers (see aggregator/metrics.py). The folder is
  emptied when gunicorn starts; a dead worker's counts stay in the sums (as counters should).

Tunable from the environment: AGGREGATOR_BIND (default 127.0.0.1:8000, or 0.0.0.0:$PORT when
PORT is set; `--bind` wins over both), AGGREGATOR_WEB_WORKERS, AGGREGATOR_WEB_THREADS,
AGGREGATOR_LOG_LEVEL. The configuration itself comes from AGGREGATOR_CONFIG and
AGGREGATOR_DATABASE_URL as for every command.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path


def _metrics_folder() -> None:
    """Name the multiprocess metrics folder before prometheus_client is first imported, and
    empty it of a previous run's files once per master (not again when HUP rereads this)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="aggregator-metrics-")
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if os.environ.get("AGGREGATOR_METRICS_FOLDER_EMPTIED") != str(folder):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
        os.environ["AGGREGATOR_METRICS_FOLDER_EMPTIED"] = str(folder)


_metrics_folder()

wsgi_app = "aggregator:create_app()"
preload_app = True
_port = os.environ.get("PORT")
bind = os.environ.get("AGGREGATOR_BIND") or (f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000")
workers = int(os.environ.get("AGGREGATOR_WEB_WORKERS") or min(2 * multiprocessing.cpu_count() + 1, 8))
worker_class = "gthread"
threads = int(os.environ.get("AGGREGATOR_WEB_THREADS") or 4)
timeout = 60  # a worker silent this long is restarted
graceful_timeout = 10  # our requests take milliseconds; a stop (systemd, deploy) should not wait half a minute
keepalive = 5  # behind a reverse proxy that reuses connections
max_requests = 5000  # recycle workers now and then, so slow leaks cannot grow
max_requests_jitter = 500
control_socket_disable = True  # gunicorn >= 27: no runtime control socket; systemd (or the Procfile runner) manages the process

_level = os.environ.get("AGGREGATOR_LOG_LEVEL", "INFO").upper()
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"},
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"},
        "stdout": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
    },
    "root": {"level": _level, "handlers": ["stderr"]},  # the app's loggers (aggregator.*) name the feed
    "loggers": {
        "gunicorn.error": {"level": _level, "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "alembic": {"level": "WARNING"},  # the schema check at start-up says nothing unless something is wrong
    },
}


def post_fork(server, worker) -> None:  # noqa: ANN001 - gunicorn's Arbiter and Worker
    """Connections opened by the master while preloading stay with the master. (Another app
    run with these settings, such as the benchmark's hello-world, has no service to tend.)"""
    service = getattr(server.app.wsgi(), "extensions", {}).get("aggregator")
    if service is not None:
        service.storage.engine.dispose(close=False)


def child_exit(server, worker) -> None:  # noqa: ANN001 - gunicorn's Arbiter and Worker
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
