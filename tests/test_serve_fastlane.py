"""The fast lane for POST /v1/recognize answers what the FastAPI route would, and leaves everything else to it."""

from __future__ import annotations

import httpx
import pytest

from digitlab.inference.classifier import load_classifier
from digitlab.serve import ServiceSettings, create_app
from digitlab.serve import app as app_module
from serve_helpers import canvas_png, png

KEY = "s3cret-key"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def model():
    return load_classifier("default")


@pytest.fixture
def route_calls(monkeypatch):
    """How many requests reached the FastAPI image routes (each validates its query first)."""
    calls = []
    read_options = app_module._read_options
    monkeypatch.setattr(app_module, "_read_options", lambda request: calls.append(1) or read_options(request))
    return calls


async def _chunks(data: bytes):
    yield data  # no Content-Length: the lane leaves a chunked body to the app's limits and route


def without_timing(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "timing_ms"}


@pytest.mark.anyio
async def test_the_lane_answers_as_the_route(model, mnist, route_calls):
    app = create_app(ServiceSettings(api_key=KEY), model=model)
    headers = {"content-type": "image/png", "authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for i in range(3):
            image = canvas_png(mnist.test.images[i])
            query = "/v1/recognize?top_k=2&multi=false&min_confidence=0.9"
            fast = await client.post(query, content=image, headers=headers)
            assert not route_calls
            slow = await client.post(query, content=_chunks(image), headers=headers)
            assert route_calls == [1]
            route_calls.clear()
            assert fast.status_code == slow.status_code == 200
            assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
            assert without_timing(fast.json()) == without_timing(slow.json())
            assert fast.json()["digits"] == str(int(mnist.test.labels[i])) and fast.json()["model"] == "default"
            assert fast.json()["accepted"] is True and fast.json()["items"][0]["accepted"] is True


@pytest.mark.anyio
async def test_what_the_lane_does_not_answer_goes_to_the_app(model, mnist, route_calls):
    app = create_app(ServiceSettings(api_key=KEY), model=model)
    image = png(255 - mnist.test.images[0])
    auth = {"authorization": f"Bearer {KEY}"}
    png_type = {"content-type": "image/png"}
    # (query, body, headers, status, error code): the app's answers (the lane answers only 200s), as without the lane
    cases = [
        ("", image, png_type, 401, "unauthorized"),  # no key
        ("", image, {**png_type, "authorization": "Bearer wrong"}, 401, "unauthorized"),
        ("?top_k=0", image, {**png_type, **auth}, 422, "invalid_request"),
        ("?multi=maybe", image, {**png_type, **auth}, 422, "invalid_request"),
        ("", b"not an image", {**png_type, **auth}, 400, "bad_image"),
        ("", png(255 + 0 * mnist.test.images[0]), {**png_type, **auth}, 400, "no_ink"),
        ("", b"", {**png_type, **auth}, 400, "empty_body"),
        ("", image, {"content-type": "text/plain", **auth}, 415, "unsupported_media_type"),
    ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for query, body, headers, status, code in cases:
            r = await client.post(f"/v1/recognize{query}", content=body, headers=headers)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), (query, headers)
        route_calls.clear()
        r = await client.post("/v1/recognize", files={"file": ("digit.png", image, "image/png")}, headers=auth)
        assert r.status_code == 200 and route_calls == [1]  # multipart: the route's
