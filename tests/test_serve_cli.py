"""`digitlab serve` as a user starts it (a real process on 127.0.0.1), and `digitlab bench serve`."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from digitlab.errors import DigitlabError
from digitlab.serve.launch import free_port, wait_healthy
from serve_helpers import canvas_png

CLI = [sys.executable, "-m", "digitlab.cli"]


def started(process: subprocess.Popen, port: int) -> None:
    try:
        wait_healthy(process, port, timeout=90)
    except DigitlabError as e:
        process.kill()
        pytest.fail(f"{e}:\n{process.communicate()[0].decode()}")


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/recognize", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_stops_cleanly(workers, mnist):
    port = free_port()
    command = [*CLI, "serve", "--port", str(port), "--workers", str(workers), "--api-key", "k1",
               "--cors-origin", "https://app.example"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        started(process, port)
        body = canvas_png(mnist.test.images[0])
        status, answer = post(port, body, {"Content-Type": "image/png"})
        assert status == 401 and answer["error"]["code"] == "unauthorized"
        status, answer = post(port, body, {"Content-Type": "image/png", "Authorization": "Bearer k1"})
        assert status == 200 and answer["digits"] == str(int(mnist.test.labels[0]))
        request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Origin": "https://app.example"})
        with urllib.request.urlopen(request, timeout=30) as r:  # the settings reached every worker
            assert r.headers["access-control-allow-origin"] == "https://app.example"
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_serve_refuses_bad_model_and_busy_port():
    r = subprocess.run([*CLI, "serve", "--model", "no-such-model", "--port", str(free_port())],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a model" in r.stderr and "Traceback" not in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = subprocess.run([*CLI, "serve", "--port", str(busy.getsockname()[1])], capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr


def test_bench_serve_measures_without_errors(mnist_dir, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_dir))
    r = subprocess.run([*CLI, "bench", "serve", "--seconds", "1", "--warmup", "0.3", "--concurrency", "1,4",
                        "--payload", "canvas", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [level["concurrency"] for level in doc["levels"]] == [1, 4]
    for level in doc["levels"]:
        assert level["ok"] > 0 and level["errors"] == 0 and level["status_5xx"] == 0
        assert level["req_per_s"] > 0 and 0 < level["p50_ms"] <= level["p99_ms"]
        assert level["wrong_digits"] <= max(1, level["ok"] // 50)  # the payload digits are read, not just answered
        assert level["rss_end_mb"] > 50
