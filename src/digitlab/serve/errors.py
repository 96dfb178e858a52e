"""Every error the service answers is JSON: ``{"error": {"code": ..., "message": ...}}`` with a 4xx status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from digitlab.errors import ImageError, ImageTooLarge, NoInkError
from digitlab.serve.limits import BodyTooLarge

log = logging.getLogger("digitlab.serve")

_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
          413: "too_large", 415: "unsupported_media_type", 422: "invalid_request"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def image_error(e: ImageError) -> ApiError:
    """A user's image we cannot read: 413 when over the pixel limit, else 400."""
    if isinstance(e, ImageTooLarge):
        return ApiError(413, "too_many_pixels", str(e))
    return ApiError(400, "no_ink" if isinstance(e, NoInkError) else "bad_image", str(e))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, e: ApiError) -> JSONResponse:
        return error_response(e.status, e.code, e.message, e.headers)

    @app.exception_handler(ImageError)
    async def _image(request: Request, e: ImageError) -> JSONResponse:
        api = image_error(e)
        return error_response(api.status, api.code, api.message)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, e: BodyTooLarge) -> JSONResponse:
        return error_response(413, "too_large", str(e), {"Connection": "close"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = []
        for error in e.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
        more = f" (and {len(e.errors()) - 5} more)" if len(e.errors()) > 5 else ""
        return error_response(422, "invalid_request", "; ".join(problems) + more)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return error_response(e.status_code, _CODES.get(e.status_code, "error"), str(e.detail),
                              getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:  # a bug of ours: say so, stay up
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error (logged on the server)")
