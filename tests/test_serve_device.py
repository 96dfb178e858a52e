"""`digitlab serve --device`: cpu serves as before; cuda without a GPU is one clear error (exit 2 from the CLI)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import torch

from digitlab.errors import ModelError
from digitlab.serve import ServiceSettings, create_app
from digitlab.serve.app import serving_device
from digitlab.serve.launch import free_port
from serve_helpers import canvas_png

NO_GPU = not torch.cuda.is_available()


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_device_choice():
    assert serving_device(ServiceSettings()) == "cpu"  # the default
    assert serving_device(ServiceSettings(device="auto")) == ("cuda" if torch.cuda.is_available() else "cpu")
    assert serving_device(ServiceSettings(device="auto", runtime="onnx")) == "cpu"  # ONNX Runtime is the CPU's
    with pytest.raises(ModelError, match="runs on the CPU"):
        serving_device(ServiceSettings(device="cuda", runtime="onnx"))
    with pytest.raises(ModelError, match="device must be cpu, cuda or auto"):
        serving_device(ServiceSettings(device="tpu"))


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ModelError, match="no CUDA GPU"):
        create_app(ServiceSettings(device="cuda", runtime="torch"))
    r = subprocess.run([sys.executable, "-m", "digitlab.cli", "serve", "--device", "cuda", "--port", str(free_port())],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no CUDA GPU" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("device", ["cpu", "auto"] if NO_GPU else ["cpu", "cuda"])
async def test_serves_on_the_chosen_device(device, mnist):
    """The app the GPU check builds: the model on the device, read over HTTP."""
    app = create_app(ServiceSettings(model="default", device=device, runtime="torch"))
    expected = "cuda" if device in ("cuda", "auto") and not NO_GPU else "cpu"
    assert str(app.state.service.model.device).startswith(expected)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                   base_url="http://test") as client:
        r = await client.post("/v1/recognize", content=canvas_png(mnist.test.images[0]),
                              headers={"content-type": "image/png"})
        assert r.status_code == 200 and r.json()["digits"] == str(int(mnist.test.labels[0]))
        info = (await client.get("/v1/models")).json()["models"][0]
        assert info["runtime"] == "torch" and info["device"].startswith(expected)
