"""The FastAPI application behind ``fmrec serve``.

:func:`create_app` builds the application for one model file: the JSON API
(see :mod:`fmrec.service.routes`), the web page at ``/`` and its files under
``/static``, the common error shape, the request log and the body size limit.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from fmrec import __version__
from fmrec.service.errors import install_error_handlers
from fmrec.service.holder import ModelHolder
from fmrec.service.middleware import BodyLimitMiddleware, RequestLogMiddleware
from fmrec.service.routes import build_router

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_MAX_N = 100
DEFAULT_MAX_BODY_BYTES = 64 * 1024

DESCRIPTION = """\
Recommendations from an fmrec Factorization Machine model. Users and items are
named by their original ids. Every error response has the shape
`{"error": {"code": ..., "message": ...}}`.
"""


def create_app(
    model_path: str | os.PathLike,
    *,
    max_n: int = DEFAULT_MAX_N,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the service for the model file at ``model_path``.

    The model is loaded before this returns, so a missing or broken file
    raises here (FileNotFoundError or ModelFileError) rather than on the
    first request. ``max_n`` bounds every list length ``n`` and
    ``max_body_bytes`` the size of a request body. The model holder is
    ``app.state.holder``.
    """
    if max_n < 1:
        raise ValueError(f"max_n must be at least 1, got {max_n}.")
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}.")
    holder = ModelHolder(model_path, max_n)
    app = FastAPI(
        title="fmrec",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.holder = holder
    install_error_handlers(app)
    app.include_router(build_router(max_n))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    # Added last, so it runs first: it logs and guards everything below it.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestLogMiddleware)
    return app
