"""The running service of the app handling the request: what every view reads first."""

from __future__ import annotations

from flask import Flask, current_app

from aggregator.service import Service


def service() -> Service:
    return service_of(current_app)


def service_of(app: Flask) -> Service:
    return app.extensions["aggregator"]
