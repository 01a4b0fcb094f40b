"""ASGI middleware of the HTTP service: request log, error guard, body limit."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fmrec.service.errors import INTERNAL_ERROR_MESSAGE, APIError, error_body

logger = logging.getLogger("fmrec.service.access")
error_logger = logging.getLogger("fmrec.service")


class RequestLogMiddleware:
    """Log each request's method, path, status and latency; guard against crashes.

    An exception that no handler took becomes a 500 response with a generic
    message (the traceback goes to the log, never to the client), unless the
    response had already started, in which case the connection is closed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            error_logger.exception(
                "Unhandled error in %s %s", scope["method"], scope["path"]
            )
            if status == 0:
                status = 500
                body = error_body("internal_error", INTERNAL_ERROR_MESSAGE)
                await send_json(send, 500, body)
        finally:
            latency_ms = (time.perf_counter() - start) * 1000.0
            logger.info(
                "%s %s %d %.2f ms", scope["method"], scope["path"], status, latency_ms
            )


class BodyLimitMiddleware:
    """Reject request bodies larger than ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is rejected before the body
    is read. A body sent without a length, or longer than it declared, is
    counted while the endpoint reads it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_json(send, 413, self._too_large_body())
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise APIError(413, "payload_too_large", self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes."

    def _too_large_body(self) -> dict:
        return error_body("payload_too_large", self._message())


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def send_json(send: Send, status: int, body: dict) -> None:
    """Send a complete JSON response through a raw ASGI ``send``."""
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
