"""Error responses of the HTTP service, all in one JSON shape.

Every error body is ``{"error": {"code": ..., "message": ...}}``, with a
``details`` list added for invalid requests. The handlers here cover errors
raised by the endpoints, FastAPI's request validation and Starlette's own
404 and 405 responses; :mod:`fmrec.service.middleware` turns any other
exception into a 500 with a generic message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

# Error codes by HTTP status, for errors that carry no code of their own.
STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}

INTERNAL_ERROR_MESSAGE = (
    "The server failed to process this request. The error has been logged."
)


class APIError(StarletteHTTPException):
    """An error response with its own code, such as ``user_not_found``."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.code = code


def error_body(
    code: str, message: str, details: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """Return the JSON body of an error response."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, details), status_code=status_code, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the common JSON shape."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and not isinstance(exc, APIError):
        message = f"No endpoint at {request.url.path}; GET /openapi.json lists them."
    elif exc.status_code == 405:
        message = (
            f"Method {request.method} is not allowed on {request.url.path}; the "
            "Allow header lists the methods it accepts."
        )
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [_detail(error) for error in exc.errors()]
    first = details[0] if details else {"location": "request", "message": "invalid"}
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    message = f"Invalid {first['location']}: {first['message']}{more}."
    return error_response(422, "invalid_request", message, details)


def _detail(error: dict[str, Any]) -> dict[str, str]:
    """Return the location and message of one validation error.

    The input value is left out, since it may be large or not JSON-ready.
    """
    return {"location": _location(error.get("loc", ())), "message": error["msg"]}


def _location(loc: Sequence[Any]) -> str:
    if not loc:
        return "request"
    kind, *rest = loc
    if kind == "body" and not rest:
        return "request body"
    path = ".".join(str(part) for part in rest)
    names = {"query": "query parameter", "path": "path parameter", "body": "field"}
    return f"{names.get(kind, kind)} '{path}'" if path else str(kind)
