"""The HTTP API, driven with httpx against the ASGI app: answers, limits, keys, and every bad input."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from digitlab.inference.classifier import load_classifier
from digitlab.serve import ServiceSettings, create_app, schemas
from serve_helpers import canvas_png, number_png, png

LIMIT = 200_000  # bytes: small, so that tests can cross it


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def model():
    return load_classifier("default")


@pytest.fixture(scope="module")
def app(model):
    return create_app(ServiceSettings(max_bytes=LIMIT, max_pixels=4_000_000, max_batch_files=4,
                                      max_classify_images=8, api_key=None), model=model)


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return body["error"]


@pytest.mark.anyio
async def test_recognize_raw_png_reads_test_digits(client, mnist):
    for i in range(8):
        r = await client.post("/v1/recognize", content=canvas_png(mnist.test.images[i]),
                              headers={"content-type": "image/png"})
        assert r.status_code == 200, r.text
        body = schemas.RecognizeResponse.model_validate(r.json())
        assert body.digits == str(int(mnist.test.labels[i]))
        item = body.items[0]
        assert len(item.probs) == 10 and abs(sum(item.probs) - 1) < 1e-3
        assert item.top_k[0].digit == item.digit and len(item.top_k) == 3
        assert body.model == "default" and body.timing_ms.total >= body.timing_ms.model
        left, top, right, bottom = item.box
        assert 0 <= left < right <= 280 and 0 <= top < bottom <= 280


@pytest.mark.anyio
async def test_recognize_multipart_upload_and_jpeg(client, mnist):
    image = Image.open(io.BytesIO(canvas_png(mnist.test.images[1]))).convert("RGB")
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=85)
    r = await client.post("/v1/recognize", files={"file": ("digit.jpg", jpeg.getvalue(), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["digits"] == str(int(mnist.test.labels[1]))


@pytest.mark.anyio
async def test_recognize_a_number(client, mnist):
    ids = [3, 2, 1, 18]  # 0, 1, 2, 3 in the test set? whatever they are, the string must match them
    expected = "".join(str(int(mnist.test.labels[i])) for i in ids)
    number = number_png([mnist.test.images[i] for i in ids])
    r = await client.post("/v1/recognize", params={"multi": "true"}, content=number,
                          headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.json()["digits"] == expected and len(r.json()["items"]) == 4
    boxes = [item["box"] for item in r.json()["items"]]
    assert boxes == sorted(boxes), "digits come left to right"


@pytest.mark.anyio
async def test_top_k_and_min_confidence(client, mnist):
    body = canvas_png(mnist.test.images[0])
    r = await client.post("/v1/recognize", params={"top_k": 5}, content=body, headers={"content-type": "image/png"})
    assert len(r.json()["items"][0]["top_k"]) == 5
    r = await client.post("/v1/recognize", params={"min_confidence": 1.0}, content=body,
                          headers={"content-type": "image/png"})
    assert r.json()["digits"] == "?" and r.json()["items"][0]["accepted"] is False and r.json()["accepted"] is False
    assert r.json()["items"][0]["digit"] == int(mnist.test.labels[0])  # the best guess stays
    r = await client.post("/v1/recognize", params={"min_confidence": 0.5}, content=body,
                          headers={"content-type": "image/png"})
    assert r.json()["accepted"] is True and r.json()["digits"] == str(int(mnist.test.labels[0]))
    assert schemas.RecognizeResponse.model_validate(r.json()).accepted is True
    for bad in ({"top_k": 0}, {"top_k": 11}, {"min_confidence": 2}, {"multi": "maybe"}):
        r = await client.post("/v1/recognize", params=bad, content=body, headers={"content-type": "image/png"})
        assert r.status_code == 422 and error_of(r)["code"] == "invalid_request"


@pytest.mark.parametrize("content, content_type, status, code", [
    (b"", "image/png", 400, "empty_body"),
    (b"GIF89a not really", "image/gif", 400, "bad_image"),
    (b"just some text", "image/png", 400, "bad_image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", 400, "bad_image"),
    (b"hello", "text/plain", 415, "unsupported_media_type"),
    (b"hello", "", 415, "unsupported_media_type"),
    (b'{"images": []}', "application/json", 415, "unsupported_media_type"),
])
@pytest.mark.anyio
async def test_recognize_bad_bodies(client, content, content_type, status, code):
    headers = {"content-type": content_type} if content_type else {}
    r = await client.post("/v1/recognize", content=content, headers=headers)
    assert r.status_code == status and error_of(r)["code"] == code


@pytest.mark.anyio
async def test_truncated_png_is_a_clear_400(client, mnist):
    whole = canvas_png(mnist.test.images[0])
    r = await client.post("/v1/recognize", content=whole[: len(whole) // 2], headers={"content-type": "image/png"})
    assert r.status_code == 400
    assert "truncated" in error_of(r)["message"]


@pytest.mark.anyio
async def test_blank_image_has_no_ink(client):
    r = await client.post("/v1/recognize", content=png(np.full((100, 100), 255, np.uint8)),
                          headers={"content-type": "image/png"})
    assert r.status_code == 400 and error_of(r)["code"] == "no_ink"


@pytest.mark.anyio
async def test_multipart_without_file_field(client):
    r = await client.post("/v1/recognize", files={"image": ("a.png", b"x", "image/png")})
    assert r.status_code == 400 and error_of(r)["code"] == "missing_file"
    r = await client.post("/v1/recognize", data={"file": "not a file"}, files={"other": ("a", b"x")})
    assert r.status_code == 400


@pytest.mark.anyio
async def test_decompression_bomb_is_refused_before_decoding(client):
    bomb = png(Image.new("1", (5000, 5000)))  # 25 MP of zeros: a few kB of PNG
    assert len(bomb) < LIMIT
    r = await client.post("/v1/recognize", content=bomb, headers={"content-type": "image/png"})
    assert r.status_code == 413 and error_of(r)["code"] == "too_many_pixels"


@pytest.mark.anyio
async def test_body_over_the_byte_limit_is_refused_unread(client):
    chunks_read = 0

    async def body():  # streamed without Content-Length: counted as it arrives
        nonlocal chunks_read
        for _ in range(100):
            chunks_read += 1
            yield b"\0" * 65536

    r = await client.post("/v1/recognize", content=body(), headers={"content-type": "image/png"})
    assert r.status_code == 413 and error_of(r)["code"] == "too_large"
    assert chunks_read < 10, "the server must stop reading at the limit, not after the whole body"
    r = await client.post("/v1/recognize", content=b"\0" * (LIMIT + 1), headers={"content-type": "image/png"})
    assert r.status_code == 413 and error_of(r)["code"] == "too_large"


@pytest.mark.anyio
async def test_declared_length_over_limit_answers_before_reading(app):
    sent: list[dict] = []
    reads = 0

    async def receive():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"", "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/recognize", "raw_path": b"/v1/recognize",
             "query_string": b"", "headers": [(b"content-type", b"image/png"),
                                               (b"content-length", str(LIMIT * 100).encode())],
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("test", 1), "root_path": ""}
    await app(scope, receive, send)
    assert sent[0]["status"] == 413 and reads == 0


@pytest.mark.anyio
async def test_batch_reads_each_image_and_reports_each_failure(client, mnist):
    files = [("files", (f"{i}.png", canvas_png(mnist.test.images[i]), "image/png")) for i in range(2)]
    files.append(("files", ("notes.txt", b"not an image", "text/plain")))
    files.append(("files", ("empty.png", b"", "image/png")))
    r = await client.post("/v1/recognize/batch", files=files)
    assert r.status_code == 200, r.text
    results = schemas.BatchResponse.model_validate(r.json()).results
    assert [x.result.digits for x in results[:2]] == [str(int(mnist.test.labels[i])) for i in range(2)]
    assert results[2].error.code == "bad_image" and results[2].filename == "notes.txt"
    assert results[3].error.code == "empty_file"


@pytest.mark.anyio
async def test_batch_limits(client, mnist):
    one = canvas_png(mnist.test.images[0])
    r = await client.post("/v1/recognize/batch", files=[("files", (f"{i}.png", one, "image/png")) for i in range(5)])
    assert r.status_code == 422 and error_of(r)["code"] == "too_many_items"
    r = await client.post("/v1/recognize/batch", content=one, headers={"content-type": "image/png"})
    assert r.status_code == 415
    r = await client.post("/v1/recognize/batch", files={"file": ("a.png", one, "image/png")})
    assert r.status_code == 400 and error_of(r)["code"] == "missing_file"


@pytest.mark.anyio
async def test_classify_arrays(client, mnist):
    images = np.asarray(mnist.test.images[:4])
    r = await client.post("/v1/classify", json={"images": images.tolist(), "top_k": 2})
    assert r.status_code == 200, r.text
    body = schemas.ClassifyResponse.model_validate(r.json())
    assert [item.digit for item in body.items] == [int(v) for v in mnist.test.labels[:4]]
    assert all(len(item.top_k) == 2 for item in body.items)
    unit = await client.post("/v1/classify", json={"images": (images / 255.0).tolist()})
    assert [i["digit"] for i in unit.json()["items"]] == [i.digit for i in body.items]  # 0-1 scale read alike


@pytest.mark.parametrize("payload", [
    {"images": [[[0] * 27] * 28]},
    {"images": [[[0] * 28] * 27]},
    {"images": [[0] * 28]},
    {"images": []},
    {"images": [[[300] * 28] * 28]},
    {"images": [[[-1] * 28] * 28]},
    {"images": [[["a"] * 28] * 28]},
    {"images": [[[0] * 28] * 28] * 9},
    {"pictures": []},
    [1, 2, 3],
])
@pytest.mark.anyio
async def test_classify_bad_arrays(client, payload):
    r = await client.post("/v1/classify", json=payload)
    assert r.status_code == 422, r.text
    assert error_of(r)["code"] in ("invalid_request", "out_of_range", "too_many_items")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.anyio
async def test_classify_non_finite_values(client, token):
    row = "[" + ",".join([token] + ["0"] * 27) + "]"
    body = '{"images": [[' + ",".join([row] * 28) + "]]}"
    r = await client.post("/v1/classify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "finite" in error_of(r)["message"]


@pytest.mark.anyio
async def test_classify_malformed_json(client):
    r = await client.post("/v1/classify", content=b'{"images": [', headers={"content-type": "application/json"})
    assert r.status_code == 422


@pytest.mark.anyio
async def test_models_health_page_and_unknown_routes(client):
    info = schemas.ModelsResponse.model_validate((await client.get("/v1/models")).json()).models[0]
    assert info.id == "default" and info.architecture == "digitnet" and info.test_accuracy >= 0.996
    assert len(info.version) == 12 and int(info.version, 16) >= 0 and info.parameters > 10_000
    assert info.runtime == "onnxruntime"
    assert info.calibration["method"] == "temperature" and 0 < info.calibration["temperature"] < 1
    assert (await client.get("/healthz")).json()["status"] == "ok"
    page = await client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["cache-control"] == "no-cache"
    assert (await client.get("/static/app.js")).headers["cache-control"] == "no-cache"
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = await client.get("/v1/recognize")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"
    assert (await client.get("/openapi.json")).json()["paths"]["/v1/recognize"]["post"]["requestBody"]


@pytest.mark.anyio
async def test_api_key_guards_every_v1_route(model, mnist):
    app = create_app(ServiceSettings(api_key="s3cret-key"), model=model)
    body = canvas_png(mnist.test.images[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic czNjcmV0LWtleQ=="},
                        {"authorization": "Bearer s3cret-key-and-more"}):
            r = await c.post("/v1/recognize", content=body, headers={"content-type": "image/png", **headers})
            assert r.status_code == 401 and error_of(r)["code"] == "unauthorized", headers
            assert r.headers["www-authenticate"] == "Bearer"
            assert (await c.get("/v1/models", headers=headers)).status_code == 401
            assert (await c.post("/v1/classify", json={"images": []}, headers=headers)).status_code == 401
        r = await c.post("/v1/recognize", content=body,
                         headers={"content-type": "image/png", "authorization": "Bearer s3cret-key"})
        assert r.status_code == 200
        assert (await c.get("/healthz")).status_code == 200 and (await c.get("/")).status_code == 200


@pytest.mark.anyio
async def test_api_key_from_environment(monkeypatch, model):
    monkeypatch.setenv("DIGITLAB_API_KEY", "from-env")
    app = create_app(ServiceSettings(), model=model)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        assert (await c.get("/v1/models")).status_code == 401
        assert (await c.get("/v1/models", headers={"authorization": "Bearer from-env"})).status_code == 200


@pytest.mark.anyio
async def test_concurrent_requests_are_all_answered_right(client, app, mnist):
    batcher = app.state.service.batcher
    before = batcher.images
    ids = list(range(24))
    answers = await asyncio.gather(*(client.post("/v1/recognize", content=canvas_png(mnist.test.images[i]),
                                                 headers={"content-type": "image/png"}) for i in ids))
    assert [a.json()["digits"] for a in answers] == [str(int(mnist.test.labels[i])) for i in ids]
    assert batcher.images - before == len(ids)


@pytest.mark.anyio
async def test_error_bodies_are_json_for_malformed_multipart(client):
    r = await client.post("/v1/recognize", content=b"--xx\r\nbroken", headers={
        "content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code in (400, 422)
    assert json.loads(r.text)["error"]["code"]


def test_onnx_runtime_serves_the_same_model(model, mnist):
    from digitlab.errors import ModelError
    from digitlab.inference.onnx_runtime import to_onnx_runtime

    fast = to_onnx_runtime(model, threads=1)
    images = np.asarray(mnist.test.images[:500])
    slow_p, fast_p = model.predict_proba(images), fast.predict_proba(images)
    assert np.abs(slow_p - fast_p).max() < 1e-4
    assert (slow_p.argmax(1) == fast_p.argmax(1)).all()
    assert create_app(ServiceSettings(runtime="torch"), model=model).state.service.runtime == "torch"
    assert create_app(ServiceSettings(runtime="auto"), model=model).state.service.runtime == "onnxruntime"
    with pytest.raises(ModelError, match="runtime must be"):
        create_app(ServiceSettings(runtime="tpu"), model=model)


@pytest.mark.anyio
async def test_cors_only_for_the_origins_given(model, mnist):
    preflight = {"origin": "https://app.example", "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization, content-type"}
    plain = create_app(ServiceSettings(), model=model)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url="http://test") as c:
        r = await c.get("/healthz", headers={"origin": "https://app.example"})
        assert "access-control-allow-origin" not in r.headers  # same origin only, by default
    app = create_app(ServiceSettings(cors_origins=("https://app.example",), api_key="k"), model=model)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.options("/v1/recognize", headers=preflight)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        r = await c.post("/v1/recognize", content=canvas_png(mnist.test.images[0]),
                         headers={"origin": "https://app.example", "content-type": "image/png",
                                  "authorization": "Bearer k"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        r = await c.options("/v1/recognize", headers={**preflight, "origin": "https://evil.example"})
        assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
