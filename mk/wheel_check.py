"""`make test-wheel`: build the sdist and the wheel, install the wheel as users get it, and run it there.

The wheel is built from the sdist (`python -m build`), so a file missing from the sdist fails here too.
Two fresh virtualenvs: "core" (no extras) and "serve" (`[serve]`), torch installed first under the
project's constraints. Every command runs from a temporary directory outside the checkout (so nothing
imports src/ by accident) with a fresh DIGITLAB_DATA. Each check prints one PASS/FAIL line; the last
line is `wheel: N passed, M failed`, and the exit status is 1 if any check failed.

Standard library only: it runs under the interpreter that makes the virtualenvs.

    python3 mk/wheel_check.py --build-python .venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
# Package data that must be in the wheel (and so in the sdist it is built from): every file under these.
PACKAGE_DATA = ("pretrained", "serve/static", "export/c_template")
PHOTO = CHECKOUT / "docs" / "number-2026.jpg"
OPTIONAL_MODULES = ("fastapi", "uvicorn", "onnx", "onnxruntime", "pennylane", "hls4ml")


class Checks:
    """Counts PASS/FAIL lines; each check prints exactly one."""

    def __init__(self) -> None:
        self.passed = self.failed = 0

    def record(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def run(self, name: str, check: Callable[[], str | None]) -> bool:
        """``check`` returns None when it holds, else why not; an exception is a failure, not a crash."""
        try:
            problem = check()
        except Exception as e:  # noqa: BLE001 - one check's surprise must not hide the others
            problem = f"{type(e).__name__}: {e}"
        return self.record(name, problem is None, problem or "")


def one_line(text: str, limit: int = 300) -> str:
    """The last lines of a command's output, squeezed onto one line for a FAIL message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-4:])
    return tail[-limit:] if tail else "(no output)"


class Venv:
    def __init__(self, path: Path, data: Path, workdir: Path) -> None:
        self.path, self.data, self.workdir = path, data, workdir

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env.update(PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}", DIGITLAB_DATA=str(self.data))
        return env

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a program of this venv (``digitlab``, ``python``) from the outside working directory."""
        return subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=self.workdir, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)


def build(build_python: str, dist: Path) -> str | None:
    shutil.rmtree(dist, ignore_errors=True)
    done = subprocess.run([build_python, "-m", "build", "--outdir", str(dist), str(CHECKOUT)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return one_line(done.stdout + done.stderr)
    if not (list(dist.glob("*.whl")) and list(dist.glob("*.tar.gz"))):
        return f"no wheel or sdist in {dist}"
    return None


def expected_files() -> list[str]:
    """Package-relative paths (digitlab/...) of every package-data file and every module in the checkout."""
    src = CHECKOUT / "src"
    files = [p for sub in PACKAGE_DATA for p in (src / "digitlab" / sub).rglob("*") if p.is_file()]
    files += (src / "digitlab").rglob("*.py")
    return sorted({p.relative_to(src).as_posix() for p in files if "__pycache__" not in p.parts})


def missing_from(names: set[str], prefix: str = "") -> str | None:
    missing = [f for f in expected_files() if prefix + f not in names]
    required = ("digitlab/pretrained/default/model.json", "digitlab/pretrained/default/model.safetensors")
    missing += [f for f in required if prefix + f not in names and f not in missing]
    return f"missing {len(missing)}: {', '.join(missing[:6])}" if missing else None


def wheel_contents(wheel: Path) -> str | None:
    with zipfile.ZipFile(wheel) as z:
        return missing_from(set(z.namelist()))


def sdist_contents(sdist: Path) -> str | None:
    with tarfile.open(sdist) as t:
        names = set(t.getnames())
    root = sdist.name.removesuffix(".tar.gz")
    return missing_from(names, f"{root}/src/")


def install(python: str, venv: Path, constraints: Path, requirement: str, log: Path) -> subprocess.Popen:
    """Start making ``venv``: torch first, pinned (an unpinned torch pulls GBs of CUDA wheels), then the wheel."""
    shutil.rmtree(venv, ignore_errors=True)
    # --no-compile: no .pyc for all of torch's modules at install time; the first import writes those it uses.
    pip = f"{venv}/bin/python -m pip --disable-pip-version-check -q install --no-compile -c {constraints}"
    script = f"set -e; {python} -m venv {venv}; {pip} torch; {pip} '{requirement}'"
    return subprocess.Popen(["bash", "-c", script], stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_install(proc: subprocess.Popen, log: Path, timeout: float) -> str | None:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return f"install took over {timeout:.0f} s"
    return None if rc == 0 else f"exit {rc}: {one_line(log.read_text())}"


def expect(done: subprocess.CompletedProcess, rc: int = 0, stdout: str | None = None) -> str | None:
    """None if the command exited ``rc`` (and its stdout matches the regex ``stdout``), else what it did."""
    text = done.stdout + done.stderr
    if done.returncode != rc:
        return f"exit {done.returncode}, wanted {rc}: {one_line(text)}"
    if stdout is not None and not re.search(stdout, done.stdout):
        return f"stdout does not match {stdout!r}: {one_line(done.stdout)}"
    return None


def missing_extra(done: subprocess.CompletedProcess, extra: str) -> str | None:
    """A command that needs ``extra``: exit 2, one line naming ``digitlab[extra]``, no traceback."""
    text = (done.stdout + done.stderr).strip()
    if done.returncode != 2:
        return f"exit {done.returncode}, wanted 2: {one_line(text)}"
    if f"digitlab[{extra}]" not in text:
        return f"does not name digitlab[{extra}]: {one_line(text)}"
    if "Traceback" in text or len(text.splitlines()) != 1:
        return f"not one line ({len(text.splitlines())} lines): {one_line(text)}"
    return None


def core_checks(checks: Checks, venv: Venv, version: str) -> None:
    checks.run("core: no optional packages installed", lambda: expect(venv.run(
        "python", "-c", "import importlib.util as u, sys; "
        f"found = [m for m in {OPTIONAL_MODULES!r} if u.find_spec(m)]; print(found); sys.exit(bool(found))")))
    checks.run("core: imports the installed copy, not the checkout", lambda: expect(venv.run(
        "python", "-c", "import digitlab; print(digitlab.__file__)"), stdout=re.escape(str(venv.path))))
    checks.run("core: digitlab --version", lambda: expect(venv.run("digitlab", "--version"),
                                                          stdout=rf"\b{re.escape(version)}\b"))
    checks.run("core: digitlab data fetch", lambda: expect(venv.run("digitlab", "data", "fetch", timeout=600)))
    checks.run("core: digitlab models", lambda: expect(venv.run("digitlab", "models", "--json"),
                                                       stdout=r'"name": "digitnet"'))
    checks.run("core: digitlab recipes", lambda: expect(venv.run("digitlab", "recipes", "--json"),
                                                        stdout=r'"name": "recognizer"'))
    checks.run(f"core: digitlab predict {PHOTO.name} reads 2026", lambda: expect(
        venv.run("digitlab", "predict", str(PHOTO)), stdout=r":\s*2026\b"))
    checks.run("core: digitlab eval default", lambda: eval_default(venv))
    checks.run("core: digitlab train (a tiny cnn run)", lambda: expect(venv.run(
        "digitlab", "train", "cnn", "--limit", "1000", "--run-dir", str(venv.workdir / "tiny-run"))))
    checks.run("core: bench train's baseline is in the package", lambda: expect(venv.run(
        "python", "-c", "import digitlab.bench.baseline_fast_mnist")))
    checks.run("core: digitlab serve exits 2 naming digitlab[serve]",
               lambda: missing_extra(venv.run("digitlab", "serve"), "serve"))
    checks.run("core: digitlab export --format onnx exits 2 naming digitlab[export]", lambda: missing_extra(
        venv.run("digitlab", "export", "default", "--format", "onnx", "--out", str(venv.workdir / "d.onnx")),
        "export"))
    checks.run("core: Python API export raises DigitlabError naming digitlab[export]", lambda: expect(venv.run(
        "python", "-c", "import digitlab\nfrom digitlab.errors import DigitlabError\n"
        "from digitlab.export import export_model\n"
        "try:\n    export_model(digitlab.load('default'), 'onnx', 'd.onnx')\n"
        "except DigitlabError as e:\n    print('raised:', e)\n"), stdout=r"raised:.*digitlab\[export\]"))


def eval_default(venv: Venv) -> str | None:
    done = venv.run("digitlab", "eval", "default", "--json")
    problem = expect(done)
    if problem:
        return problem
    accuracy = json.loads(done.stdout)["accuracy"]
    # The shipped model's recorded test accuracy, from its own model.json in the checkout.
    meta = json.loads((CHECKOUT / "src/digitlab/pretrained/default/model.json").read_text())
    recorded = meta["metrics"]["test_acc"]
    return None if abs(accuracy - recorded) < 1e-9 else f"accuracy {accuracy} != recorded {recorded}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def serve_checks(checks: Checks, venv: Venv, start_timeout: float = 120) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = venv.workdir / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(venv.bin / "digitlab"), "serve", "--port", str(port)], cwd=venv.workdir,
                                env=venv.env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        def healthz() -> str | None:
            deadline = time.monotonic() + start_timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    return f"exited {proc.returncode}: {one_line(log.read_text())}"
                try:
                    status, body = get(f"{base}/healthz")
                    if status == 200 and json.loads(body).get("status") == "ok":
                        return None
                except (OSError, ValueError):
                    pass
                time.sleep(0.5)
            return f"no answer within {start_timeout:.0f} s: {one_line(log.read_text())}"

        if not checks.run("serve: digitlab serve --port P answers GET /healthz", healthz):
            return
        checks.run("serve: GET / serves the drawing page (package data)", lambda: (
            None if b"<canvas" in get(f"{base}/")[1] else "no <canvas> in the page"))
        checks.run(f"serve: POST /v1/recognize?multi=true {PHOTO.name} reads 2026", lambda: recognize(base))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def recognize(base: str) -> str | None:
    status, body = get(f"{base}/v1/recognize?multi=true", PHOTO.read_bytes(), {"Content-Type": "image/jpeg"})
    digits = json.loads(body).get("digits") if status == 200 else None
    return None if digits == "2026" else f"status {status}: {body[:200]!r}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="Interpreter that makes the virtualenvs.")
    parser.add_argument("--build-python", required=True, help="Interpreter with `build` installed.")
    parser.add_argument("--work", type=Path, default=CHECKOUT / "build" / "wheel")
    parser.add_argument("--constraints", type=Path, default=CHECKOUT / "requirements" / "constraints.txt")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    checks = Checks()
    dist = work / "dist"

    if not checks.run("build: sdist, and the wheel from the sdist", lambda: build(args.build_python, dist)):
        return finish(checks, started)
    wheel, sdist = next(dist.glob("*.whl")), next(dist.glob("*.tar.gz"))
    version = wheel.name.split("-")[1]
    checks.run(f"build: {sdist.name} holds every module and the package data", lambda: sdist_contents(sdist))
    checks.run(f"build: {wheel.name} holds every module and the package data", lambda: wheel_contents(wheel))

    # Both virtualenvs install at once: pip mostly waits on unpacking, and torch is the bulk of both.
    constraints = args.constraints.resolve()
    venvs = {name: work / f"venv-{name}" for name in ("core", "serve")}
    requirements = {"core": str(wheel), "serve": f"{wheel}[serve]"}
    logs = {name: work / f"install-{name}.log" for name in venvs}
    procs = {name: install(args.python, venvs[name], constraints, requirements[name], logs[name]) for name in venvs}
    installed = {name: checks.run(f"{name}: fresh venv, torch, then pip install {Path(requirements[name]).name}",
                                  lambda n=name: wait_install(procs[n], logs[n], timeout=900)) for name in venvs}
    print(f"(build and install: {time.monotonic() - started:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="digitlab-wheel-") as tmp:
        outside = Path(tmp) / "cwd"
        outside.mkdir()
        data = Path(tmp) / "data"
        if installed["core"]:
            core_checks(checks, Venv(venvs["core"], data, outside), version)
        if installed["serve"]:
            serve_checks(checks, Venv(venvs["serve"], data, outside))
    return finish(checks, started)


def finish(checks: Checks, started: float) -> int:
    print(f"(test-wheel took {time.monotonic() - started:.0f} s)")
    print(f"wheel: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
