"""Running `digitlab serve` as a separate process: a free port, and waiting until it answers /healthz."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

from digitlab.errors import DigitlabError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(process: subprocess.Popen, port: int, timeout: float = 120.0) -> None:
    """Return once the server on ``port`` answers GET /healthz; raise if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DigitlabError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise DigitlabError(f"the server did not answer /healthz within {timeout:g} s")
