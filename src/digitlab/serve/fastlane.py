"""The hot request, POST /v1/recognize with a raw image body, answered without FastAPI's routing.

The drawing page sends one of these every 200 ms while someone writes; FastAPI's layers between the server and
the route (its middlewares, router, dependency and endpoint machinery) cost about a third of a small request's
CPU (py-spy). This ASGI middleware answers such a request itself when it can, with the very body the route
would send. Anything else, and every request it would answer with an error, goes on to the app unchanged (the
body it read replayed), so that the app's route, limits and error handlers decide as before.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digitlab.serve import schemas

if TYPE_CHECKING:
    from digitlab.serve.app import ModelService

PATH = "/v1/recognize"


class RecognizeLane:
    def __init__(self, app: ASGIApp, service: ModelService, api_key: str | None) -> None:
        self.app, self.service = app, service
        self.authorization = f"bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = self._options(scope) if scope["type"] == "http" and scope["path"] == PATH else None
        if options is None:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        data = b"".join(chunks)
        try:
            body = await self.service.read(data, options) if data else None
        except Exception:  # noqa: BLE001 - the app answers it (with the same status and JSON as ever)
            body = None
        if body is None:
            await self.app(scope, _replay(data, receive), send)
            return
        body["model"] = self.service.id
        # The bytes and headers of the route's JSONResponse(body).
        payload = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        headers = [(b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _options(self, scope: Scope) -> schemas.ReadOptions | None:
        """The request's read options if this lane may answer it: a POST of a raw image of declared length, with
        valid query parameters and, where the service needs one, the right key. None: the app answers it."""
        if scope["method"] != "POST":
            return None
        headers = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)  # the first of repeated headers, as Starlette reads them
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if not (media.startswith(b"image/") or media == b"application/octet-stream"):
            return None
        if not headers.get(b"content-length", b"").isdigit():  # chunked: the app's limits count it as it comes
            return None
        if self.authorization is not None:
            given = headers.get(b"authorization", b"")
            scheme, _, key = given.partition(b" ")
            if not hmac.compare_digest(scheme.lower() + b" " + key, self.authorization):
                return None
        try:
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            return schemas.ReadOptions.model_validate(query)
        except (ValidationError, UnicodeDecodeError):
            return None


def _replay(data: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read, then whatever the connection says next."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": data, "more_body": False}
        return await receive()

    return replay
