"""The FastAPI app: routes, the body of each request turned into digits, and the drawing page."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import io
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from digitlab import __version__
from digitlab.errors import ImageError, ModelError
from digitlab.inference.classifier import WEIGHTS, Classifier, TorchClassifier, load_classifier, resolve_model_dir
from digitlab.inference.inputs import as_uint8_images
from digitlab.serve import schemas
from digitlab.serve.batcher import MicroBatcher
from digitlab.serve.errors import ApiError, image_error, install_error_handlers, log
from digitlab.serve.fastlane import RecognizeLane
from digitlab.serve.limits import BodyLimitMiddleware
from digitlab.serve.settings import ServiceSettings
from digitlab.vision.crops import find_digit_crops
from digitlab.vision.reader import reading_from_probs

STATIC_DIR = Path(__file__).parent / "static"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff", "image/webp")
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorResponse, "description": text} for status, text in [
        (400, "Not an image, a truncated or empty one, or no ink in it"), (401, "Missing or wrong API key"),
        (413, "Body over the byte limit, or image over the pixel limit"), (415, "Not an image content type"),
        (422, "Parameters or JSON body out of range")]}


def _read_options(request: Request) -> schemas.ReadOptions:
    """The image routes' query parameters, validated by their model directly: FastAPI's per-parameter
    machinery cost ~12% of a small request's CPU (py-spy), for three optional numbers."""
    try:
        return schemas.ReadOptions.model_validate(request.query_params)
    except ValidationError as e:
        raise RequestValidationError([{**error, "loc": ("query", *error["loc"])} for error in e.errors()]) from None


def _image_route(field: str, many: bool) -> dict[str, Any]:
    """OpenAPI for an image route: its query parameters and a body that is an image."""
    schema = schemas.ReadOptions.model_json_schema()
    parameters = [{"name": name, "in": "query", "required": False, "schema": prop,
                   "description": prop.get("description", "")} for name, prop in schema["properties"].items()]
    return {"parameters": parameters, **_image_body(field, many)}


def _image_body(field: str, many: bool) -> dict[str, Any]:
    """OpenAPI for a body that is an image: multipart upload, or the raw bytes with an image type."""
    binary = {"type": "string", "format": "binary"}
    part = {"type": "array", "items": binary} if many else binary
    content = {"multipart/form-data": {"schema": {"type": "object", "required": [field],
                                                  "properties": {field: part}}}}
    if not many:
        content.update({kind: {"schema": binary} for kind in IMAGE_TYPES})
    return {"requestBody": {"required": True, "content": content}}


REVALIDATE = {"Cache-Control": "no-cache"}  # the page is tiny: always revalidate, so an upgrade shows at once


class PageFiles(StaticFiles):
    def file_response(self, *args: Any, **kwargs: Any) -> Any:
        response = super().file_response(*args, **kwargs)
        response.headers.update(REVALIDATE)
        return response


class ModelService:
    """The loaded model, its description, and the batcher that shares it between requests."""

    def __init__(self, settings: ServiceSettings, model: Classifier | None = None) -> None:
        self.settings = settings
        self.device = serving_device(settings)
        self.source = model if model is not None else load_classifier(settings.model, self.device)
        self.model, self.runtime = _fast_runtime(self.source, settings)
        self.id = Path(str(settings.model)).name
        self.batcher = MicroBatcher(self.model, settings.max_model_batch)
        self.preprocess_pool = (ThreadPoolExecutor(settings.preprocess_threads, thread_name_prefix="digitlab-decode")
                                if settings.preprocess_threads else None)
        self.info = self._describe()

    def _describe(self) -> dict[str, Any]:
        meta = self.source.meta
        version = None
        try:
            weights = resolve_model_dir(self.settings.model) / WEIGHTS
            version = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
        except Exception:  # noqa: BLE001 - a model handed in directly has no file to hash
            pass
        module = getattr(self.source, "module", None)
        return {"id": self.id, "version": version, "architecture": self.source.name, "args": self.source.args,
                "classes": list(self.source.classes), "runtime": self.runtime, "device": _model_device(self.model),
                "parameters": sum(p.numel() for p in module.parameters()) if module is not None else None,
                "test_accuracy": (meta.get("metrics") or {}).get("test_acc"), "recipe": meta.get("recipe"),
                "digitlab_version": meta.get("digitlab_version"), "calibration": meta.get("calibration")}

    def warm_up(self) -> None:
        """Read one small drawn digit, so the first user's request does not pay for lazy imports and caches."""
        from PIL import Image, ImageDraw

        image = Image.new("L", (64, 64), 255)
        ImageDraw.Draw(image).line([(20, 12), (44, 12), (30, 54)], fill=0, width=6)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        crops, _ = find_digit_crops(buf.getvalue(), self.model, None, self.settings.max_pixels)
        self.model.predict_proba(crops)

    async def read(self, data: bytes, options: schemas.ReadOptions) -> dict:
        """One image's reading as the API answers it, with timings."""
        start = time.perf_counter()
        args = (data, self.model, options.multi, self.settings.max_pixels)
        if self.preprocess_pool is None:
            crops, boxes = find_digit_crops(*args)
        else:
            loop = asyncio.get_running_loop()
            crops, boxes = await loop.run_in_executor(self.preprocess_pool, find_digit_crops, *args)
        found = time.perf_counter()
        probs = await self.batcher.predict_proba(crops)
        done = time.perf_counter()
        reading = reading_from_probs(self.model.classes, probs, boxes, options.top_k, options.min_confidence)
        body = reading.to_json()
        del body["path"]
        body["timing_ms"] = _timing(start, found, done)
        return body


def serving_device(settings: ServiceSettings) -> str:
    """The torch device the service loads its model on, "cpu" or "cuda", from ``settings.device`` (and runtime:
    ONNX Runtime is the CPU's). Raises ModelError for cuda on a machine without a GPU that torch can use."""
    if settings.device not in ("cpu", "cuda", "auto"):
        raise ModelError(f"device must be cpu, cuda or auto; got {settings.device!r}")
    if settings.device == "cpu" or (settings.device == "auto" and settings.runtime == "onnx"):
        return "cpu"
    if settings.runtime == "onnx":
        raise ModelError("runtime onnx runs on the CPU: serve on cuda with runtime torch (or auto)")
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if settings.device == "cuda":
        raise ModelError("device cuda: torch finds no CUDA GPU on this machine; serve with device cpu or auto")
    return "cpu"


def _model_device(model: Classifier) -> str:
    return str(model.device) if isinstance(model, TorchClassifier) else "cpu"


def _fast_runtime(model: Classifier, settings: ServiceSettings) -> tuple[Classifier, str]:
    """The model as it will run: in ONNX Runtime when asked (or possible, for "auto", on the CPU), else as loaded."""
    if settings.runtime not in ("auto", "onnx", "torch"):
        raise ModelError(f"runtime must be auto, onnx or torch; got {settings.runtime!r}")
    on_cpu = _model_device(model) == "cpu"  # ONNX Runtime is the CPU's runtime: a model on the GPU stays in torch
    if settings.runtime == "onnx" and not on_cpu:
        raise ModelError(f"runtime onnx runs on the CPU; the model is on {_model_device(model)}")
    if settings.runtime != "torch" and on_cpu and isinstance(model, TorchClassifier):
        from digitlab.inference.onnx_runtime import to_onnx_runtime

        try:
            return to_onnx_runtime(model, threads=settings.threads), "onnxruntime"
        except ModelError as e:
            if settings.runtime == "onnx":
                raise
            log.warning("serving with torch: %s", e)
    elif settings.runtime == "onnx":
        raise ModelError(f"model {model.name!r} cannot run in ONNX Runtime")
    return model, "torch" if isinstance(model, TorchClassifier) else "numpy"


def _timing(start: float, found: float, done: float) -> dict[str, float]:
    return {"preprocess": round((found - start) * 1e3, 3), "model": round((done - found) * 1e3, 3),
            "total": round((time.perf_counter() - start) * 1e3, 3)}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _image_from(request: Request) -> bytes:
    """The image bytes of a request: a multipart ``file`` field or a raw body with an image type."""
    media = _media_type(request)
    if media == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=16)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "missing_file", "the multipart body needs the image in a file field named `file`")
        data = await upload.read()
    elif media.startswith("image/") or media == "application/octet-stream":
        data = await request.body()
    else:
        raise ApiError(415, "unsupported_media_type", "send an image (image/png, image/jpeg, ...) or "
                       f"multipart/form-data with a `file` field; got {media or 'no content type'}")
    if not data:
        raise ApiError(400, "empty_body", "the request body is empty: no image")
    return data


def _bearer_check(api_key: str) -> Any:
    bearer = HTTPBearer(auto_error=False, description="Needed when the service was started with an API key.")
    expected = api_key.encode()

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):  # constant time: no hint from how long a guess takes
            raise ApiError(401, "unauthorized", "missing or wrong API key (send Authorization: Bearer <key>)",
                           {"WWW-Authenticate": "Bearer"})

    return check


def create_app(settings: ServiceSettings | None = None, model: Classifier | None = None) -> FastAPI:
    """The service for ``settings.model`` (or an already loaded ``model``, which runs on the device it is on)."""
    import torch

    settings = settings or ServiceSettings()
    torch.set_num_threads(settings.threads)
    service = ModelService(settings, model)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        await run_in_threadpool(service.warm_up)
        gc.freeze()  # what start-up built lives for good: the collector need not walk it on every pass
        yield
        if service.preprocess_pool is not None:
            service.preprocess_pool.shutdown(wait=False, cancel_futures=True)

    # FastAPIOffline: the same FastAPI app, with /docs and /redoc served from bundled files rather than a CDN.
    app = FastAPIOffline(title="digitlab", version=__version__, lifespan=lifespan,
                         description="Handwritten digits read from images. The page to draw on is at `/`.")
    app.state.service = service
    # Middlewares added later run first: limits, then the lane for the hot request, then FastAPI's routing.
    app.add_middleware(RecognizeLane, service=service, api_key=settings.api_key)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_bytes)
    if settings.cors_origins:  # added last, so it runs first: preflight requests are answered before any limit
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    install_error_handlers(app)
    # Without a key there is nothing to check, and no dependency to resolve on every request.
    guard = [Depends(_bearer_check(settings.api_key))] if settings.api_key else []
    v1 = APIRouter(prefix="/v1", dependencies=guard, responses=ERRORS, tags=["digits"])

    @v1.post("/recognize", response_model=schemas.RecognizeResponse, openapi_extra=_image_route("file", False))
    async def recognize(request: Request) -> Any:
        """Read the digit(s) in one image (PNG, JPEG, GIF, BMP, TIFF, WebP): a multipart `file`, or the raw body."""
        options = _read_options(request)
        body = await service.read(await _image_from(request), options)
        body["model"] = service.id
        return JSONResponse(body)

    @v1.post("/recognize/batch", response_model=schemas.BatchResponse, openapi_extra=_image_route("files", True))
    async def recognize_batch(request: Request) -> Any:
        """Read several images (multipart, repeated field `files`); each gets a result or its own error."""
        options = _read_options(request)
        start = time.perf_counter()
        if _media_type(request) != "multipart/form-data":
            raise ApiError(415, "unsupported_media_type", "send multipart/form-data with repeated `files` fields")
        limit = settings.max_batch_files
        form = await request.form(max_files=limit + 1, max_fields=limit + 16)
        uploads = [f for f in form.getlist("files") if not isinstance(f, str)]
        if not uploads:
            raise ApiError(400, "missing_file", "the multipart body needs images in file fields named `files`")
        if len(uploads) > limit:
            raise ApiError(422, "too_many_items", f"at most {limit} images per batch request")
        results = []
        for index, upload in enumerate(uploads):
            item: dict[str, Any] = {"index": index, "filename": upload.filename, "result": None, "error": None}
            try:
                data = await upload.read()
                if not data:
                    raise ApiError(400, "empty_file", "empty file")
                item["result"] = await service.read(data, options)
                del item["result"]["timing_ms"]
            except ImageError as e:
                api = image_error(e)
                item["error"] = {"code": api.code, "message": api.message}
            except ApiError as e:
                item["error"] = {"code": e.code, "message": e.message}
            results.append(item)
        now = time.perf_counter()
        return JSONResponse({"results": results, "model": service.id, "timing_ms": _timing(start, now, now)})

    @v1.post("/classify", response_model=schemas.ClassifyResponse)
    async def classify(request: schemas.ClassifyRequest) -> Any:
        """Classify 28x28 digits a client has already preprocessed (light ink on black, like MNIST)."""
        start = time.perf_counter()
        if len(request.images) > settings.max_classify_images:
            raise ApiError(422, "too_many_items", f"at most {settings.max_classify_images} images per request")
        images = np.asarray(request.images, dtype=np.float64)  # float32 would overflow huge values to inf
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 255:
            raise ApiError(422, "out_of_range", f"pixel values must lie in 0..255 (or 0..1); got {low:g}..{high:g}")
        crops = as_uint8_images(images)  # the project's one rule for 0-1 vs 0-255
        found = time.perf_counter()
        probs = await service.batcher.predict_proba(crops)
        done = time.perf_counter()
        reading = reading_from_probs(service.model.classes, probs, [None] * len(crops), request.top_k)
        return JSONResponse({"items": [item.to_json() for item in reading.items], "model": service.id,
                             "timing_ms": _timing(start, found, done)})

    @v1.get("/models", response_model=schemas.ModelsResponse)
    async def models() -> Any:
        """The model this service answers with: architecture, size, recorded accuracy, weights version."""
        return {"models": [service.info]}

    @app.get("/healthz", response_model=schemas.Health, tags=["health"])
    async def healthz() -> Any:
        return {"status": "ok", "model": service.id, "version": __version__}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=REVALIDATE)

    app.include_router(v1)
    app.mount("/static", PageFiles(directory=STATIC_DIR), name="static")
    return app
