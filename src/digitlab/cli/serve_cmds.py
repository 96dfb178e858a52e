"""`digitlab serve`: the HTTP API and the drawing page."""

from __future__ import annotations

import os
import socket

import typer

from digitlab.errors import DigitlabError
from digitlab.utils.console import err


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes it to the network."),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port to listen on (0: one the OS picks)."),
        model: str = typer.Option("default", "--model", "-m", help="A shipped model name or a run/model directory."),
        workers: int = typer.Option(1, "--workers", min=1, help="Processes, each with its own copy of the model."),
        api_key: str = typer.Option(None, "--api-key", envvar="DIGITLAB_API_KEY", show_envvar=True,
                                    help="Require `Authorization: Bearer KEY` on every /v1 route (default: no key, "
                                    "open to anyone who can reach it)."),
        max_bytes: int = typer.Option(5 * 1024 * 1024, "--max-bytes", min=1, help="Largest request body, bytes."),
        max_pixels: int = typer.Option(40_000_000, "--max-pixels", min=1, help="Largest image (width x height)."),
        threads: int = typer.Option(1, "--threads", min=1, help="Model threads per worker."),
        preprocess_threads: int = typer.Option(0, "--preprocess-threads", min=0,
                                               help="Image-decoding threads per worker (0: on the event loop; "
                                               "a few help when large photos mix with small requests)."),
        runtime: str = typer.Option("auto", "--runtime", help="onnx (ONNX Runtime, checked against torch at "
                                    "start), torch, or auto (onnx when onnxruntime is installed and on the CPU)."),
        device: str = typer.Option("cpu", "--device", help="Where the model runs: cpu, cuda (torch on the GPU), "
                                   "or auto (cuda if there is one). Images are preprocessed on the CPU either way."),
        cors_origin: list[str] = typer.Option([], "--cors-origin", help="A web origin (e.g. https://app.example) "
                                              "whose pages may call the API from a browser; repeatable (default: none, "
                                              "only the page the service serves itself)."),
        access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                        help="Log every request (uvicorn's access log)."),
    ) -> None:
        """Serve the recognizer over HTTP: POST /v1/recognize, /v1/recognize/batch, /v1/classify; the page at /."""
        from digitlab.utils.extras import require

        uvicorn = require("uvicorn", "serve", "digitlab serve")
        from digitlab.inference.classifier import resolve_model_dir
        from digitlab.serve import ServiceSettings, create_app
        from digitlab.serve.app import serving_device
        from digitlab.serve.main import settings_to_env

        resolve_model_dir(model)  # a wrong --model or a busy port is one clear line, before any worker starts
        _check_can_listen(host, port)
        settings = ServiceSettings(model=model, max_bytes=max_bytes, max_pixels=max_pixels, api_key=api_key or None,
                                   threads=threads, runtime=runtime, preprocess_threads=preprocess_threads,
                                   cors_origins=tuple(cors_origin), device=device)
        serving_device(settings)  # cuda without a GPU: one clear line, before any worker starts
        if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
            err.print(f"[yellow]warning:[/yellow] serving on {host} without --api-key: "
                      "anyone who can reach it can use it")
        err.print(f"digitlab: serving model {model!r} on http://{host}:{port} (page at /, API docs at /docs)")
        options: dict = dict(host=host, port=port, access_log=access_log, log_level="info", timeout_graceful_shutdown=5)
        try:
            if workers == 1:
                uvicorn.run(create_app(settings), **options)
            else:
                os.environ.update(settings_to_env(settings))
                uvicorn.run("digitlab.serve.main:app_from_env", factory=True, workers=workers, **options)
        except OSError as e:
            raise DigitlabError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None


def _check_can_listen(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise DigitlabError(f"--host {host}: {e.strerror or e}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as e:
            raise DigitlabError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
