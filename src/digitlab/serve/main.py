"""Entry point for uvicorn worker processes: the settings travel in the environment.

``--workers N`` makes uvicorn import the app anew in each worker process, so the app is built by
this factory from ``DIGITLAB_SERVE_SETTINGS`` (JSON) rather than handed over as an object.
"""

from __future__ import annotations

import dataclasses
import json
import os

from fastapi import FastAPI

from digitlab.serve.app import create_app
from digitlab.serve.settings import ServiceSettings

SETTINGS_ENV = "DIGITLAB_SERVE_SETTINGS"


def settings_to_env(settings: ServiceSettings) -> dict[str, str]:
    """Environment that makes ``app_from_env`` rebuild ``settings`` (the API key rides in its own variable)."""
    values = {k: v for k, v in dataclasses.asdict(settings).items() if k != "api_key"}
    env = {SETTINGS_ENV: json.dumps(values)}
    if settings.api_key:
        env["DIGITLAB_API_KEY"] = settings.api_key
    return env


def app_from_env() -> FastAPI:
    values = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    values["cors_origins"] = tuple(values.get("cors_origins", ()))  # JSON turned the tuple into a list
    return create_app(ServiceSettings(**values))
