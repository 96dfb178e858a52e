# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Deploy and serve: ONNX, int8, and the REST API
#
# **What this reproduces.** digitlab's deploy paths (docs/deploy.md) for the shipped recognizer:
# **published figures** — ONNX fp32 99.62% test (100% argmax agreement with PyTorch, max |Δ logit| 1.9e-6);
# static int8 ONNX 99.60%; ONNX Runtime int8 5.5× PyTorch eager at batch 1024 (shared 2-core CPU).
# Then the service: `digitlab serve` started from this notebook, called over HTTP, and stopped.

# %% tags=["parameters"]
import os

FAST = os.environ.get("DIGITLAB_FAST", "0") == "1"  # CI: checks on 1,000 test images, fewer timing rounds
print("mode:", "fast (DIGITLAB_FAST=1)" if FAST else "full")

# %%
import io
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
from IPython.display import Markdown
from PIL import Image

import digitlab
from digitlab.data.datasets import load_dataset
from digitlab.export import export_model
from digitlab.export.check import check_export

OUT = Path("export") / "06-deploy"
shutil.rmtree(OUT, ignore_errors=True)
OUT.mkdir(parents=True)
model = digitlab.load("default")
mnist = load_dataset("mnist")
n_check = 1000 if FAST else len(mnist.test)
images, labels = mnist.test.images[:n_check], mnist.test.labels[:n_check]
print(f"model {model.name}, {model.meta.get('metrics', {}).get('test_acc', float('nan')):.2%} recorded test accuracy")

# %% [markdown]
# ## 1. ONNX and int8 ONNX, checked with ONNX Runtime
#
# The fp32 file is torch's ONNX export (opset 17, dynamic batch, normalisation baked in). The int8 file is
# ONNX Runtime's static quantisation, calibrated on 1,000 training images. Each is run by ONNX Runtime on the
# test images and compared with PyTorch.

# %%
onnx_path = export_model(model, "onnx", OUT / "digits.onnx")
int8_path = export_model(model, "onnx-int8", OUT / "digits.int8.onnx", calibration=mnist.train_full.images[:1000])
checks = {fmt: check_export(fmt, path, model, images, labels)
          for fmt, path in (("onnx", onnx_path), ("onnx-int8", int8_path))}
for fmt, c in checks.items():
    size = Path(c.path).stat().st_size / 1000
    print(f"{fmt:10s} {size:6.0f} kB  accuracy {c.accuracy:.2%} (PyTorch {c.reference_accuracy:.2%})  "
          f"agreement {c.agreement:.2%}  max |Δ logit| {c.max_abs_diff:.1e}  goal met: {c.goal_met}")

# %% [markdown]
# ## 2. Speed: PyTorch eager vs ONNX Runtime fp32 vs int8
#
# Images per second at batch 1,024, median of interleaved rounds, on this machine as it is now.
# (`digitlab bench infer` measures every format, batch 1 latency too.)

# %%
batch = mnist.test.images[:1024]
x = (batch.astype(np.float32) / 255)[:, None]  # ONNX input: float [0, 1], (N, 1, 28, 28)
sessions = {name: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for name, path in (("onnxruntime fp32", onnx_path), ("onnxruntime int8", int8_path))}
runners = {"pytorch eager fp32": lambda: model.predict_proba(batch)}
for name, session in sessions.items():
    runners[name] = lambda s=session: s.run(None, {s.get_inputs()[0].name: x})
times = {name: [] for name in runners}
for _ in range(3 if FAST else 7):
    for name, run in runners.items():
        start = time.perf_counter()
        run()
        times[name].append(time.perf_counter() - start)
speed = {name: len(batch) / float(np.median(t)) for name, t in times.items()}
eager = speed["pytorch eager fp32"]
for name, ips in speed.items():
    print(f"{name:20s} {ips:10,.0f} images/s   {ips / eager:5.2f}x eager")
print("load average:", ", ".join(f"{v:.1f}" for v in os.getloadavg()))

# %% [markdown]
# ## 3. Start `digitlab serve`, call it, stop it
#
# The service runs in its own process, as it would in production. It binds 127.0.0.1 on a free port; we wait
# for `/healthz`, then call the API.

# %%
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 120
while True:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as reply:
            print("healthz:", json.load(reply))
        break
    except OSError:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"digitlab serve did not start: {server.stderr.read()[-500:]}") from None
        time.sleep(0.3)


def call(path: str, body: bytes | None = None, content_type: str | None = None) -> dict:
    request = urllib.request.Request(base + path, data=body, headers={"Content-Type": content_type} if body else {})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


# %%
info = call("/v1/models")["models"][0]
print({k: info[k] for k in ("id", "parameters", "test_accuracy", "recipe") if k in info})

# %% [markdown]
# A PNG of a test digit to `/v1/recognize`, and raw 28×28 arrays to `/v1/classify`:

# %%
png = io.BytesIO()
Image.fromarray(mnist.test.images[0]).save(png, format="PNG")
reading = call("/v1/recognize", png.getvalue(), "image/png")
top = reading["items"][0]["top_k"]
print(f"true {mnist.test.labels[0]}: read {reading['digits']!r}, confidence {reading['confidence']:.3f}, top 3 {top}")

arrays = {"images": mnist.test.images[:8].tolist()}
classified = call("/v1/classify", json.dumps(arrays).encode(), "application/json")
print("classify:", [item["digit"] for item in classified["items"]], "model", classified["model"])
print("true:    ", mnist.test.labels[:8].tolist())

# %% [markdown]
# Bad input gets a 4xx JSON error, never a traceback:

# %%
try:
    call("/v1/recognize", b"not an image", "image/png")
except urllib.error.HTTPError as error:
    print(error.code, json.load(error))

# %%
server.terminate()
print("server stopped, exit code", server.wait(timeout=30))

# %% [markdown]
# ## Published and measured here

# %%
mode = f"fast mode: first {n_check:,} test images" if FAST else "full test set"
onnx, int8 = checks["onnx"], checks["onnx-int8"]
Markdown(f"""
| | published (docs/deploy.md) | measured here ({mode}) |
|---|---|---|
| ONNX fp32 accuracy / agreement / max \\|Δ\\| | 99.62% / 100% / 1.9e-6 | \
{onnx.accuracy:.2%} / {onnx.agreement:.2%} / {onnx.max_abs_diff:.1e} |
| int8 ONNX accuracy / agreement | 99.60% / 99.98% | {int8.accuracy:.2%} / {int8.agreement:.2%} |
| int8 speed vs PyTorch eager, batch 1024 | 5.48× | {speed['onnxruntime int8'] / eager:.2f}× |
| service answered | — | `/v1/recognize` read {reading['digits']!r} (true {mnist.test.labels[0]}) |
""")
