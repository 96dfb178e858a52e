"""What a running service is allowed to do: its model and its limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

API_KEY_ENV = "DIGITLAB_API_KEY"


@dataclass(frozen=True)
class ServiceSettings:
    model: str = "default"  # a shipped model name or a model/run directory
    max_bytes: int = 5 * 1024 * 1024  # largest request body; bigger ones are refused before they are read
    max_pixels: int = 40_000_000  # largest decoded image (width x height): decompression bombs stop here
    max_batch_files: int = 16  # images in one /v1/recognize/batch request
    max_classify_images: int = 256  # 28x28 arrays in one /v1/classify request
    max_model_batch: int = 256  # images joined into one model call from concurrent requests
    api_key: str | None = field(default_factory=lambda: os.environ.get(API_KEY_ENV) or None, repr=False)
    # Threads decoding images; 0: on the event loop itself, fastest for drawings and small photos (no fight
    # for the GIL; see docs/benchmarks.md). A few threads keep big photos from holding up small requests.
    preprocess_threads: int = 0
    cors_origins: tuple[str, ...] = ()  # web origins whose pages may call the API from a browser (none: same origin)
    threads: int = 1  # intra-op threads for the model (the event loop needs the other core)
    runtime: str = "auto"  # "onnx" (ONNX Runtime, checked against torch at start), "torch", or "auto": onnx if it can
    # Where the model runs: "cpu", "cuda" (torch on the GPU; ONNX Runtime stays the CPU's), or "auto": cuda if there
    # is one. Images are always decoded and preprocessed on the CPU.
    device: str = "cpu"
