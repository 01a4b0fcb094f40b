"""``fmrec serve``: serve recommendations over HTTP, with a web page."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve recommendations over HTTP, with a web page at /",
        description="Serve a saved model over HTTP: a JSON API (described at "
        "/openapi.json) and a web page at /. POST /admin/reload or SIGHUP loads "
        "the model file again without stopping the server.",
    )
    parser.add_argument("--model", required=True, metavar="FILE", help="model file")
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)",
    )
    parser.add_argument(
        "--port",
        type=port,
        default=DEFAULT_PORT,
        help=f"TCP port to listen on, 1 to 65535 (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--max-n",
        type=positive_integer,
        default=100,
        metavar="N",
        help="largest list length a request may ask for (default: 100)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=positive_integer,
        default=64 * 1024,
        metavar="BYTES",
        help="largest request body accepted; larger ones get 413 (default: 65536)",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    try:
        import uvicorn
        from threadpoolctl import threadpool_limits

        from fmrec.service import create_app, install_reload_signal
    except ImportError as exc:
        logger.error(
            "fmrec serve needs the serve extra (%s); install it with "
            "pip install 'fmrec[serve]'.",
            exc,
        )
        return 1
    app = create_app(args.model, max_n=args.max_n, max_body_bytes=args.max_body_bytes)
    install_reload_signal(app.state.holder)
    # Each request multiplies one user's row by the item factors. BLAS threads
    # only add hand-off costs to such small products, and they compete with
    # the threads serving other requests, so BLAS runs on one thread.
    threadpool_limits(limits=1, user_api="blas")
    logger.info("Serving %s at http://%s:%d/", args.model, args.host, args.port)
    # log_config=None keeps the logging setup of fmrec's main; the service
    # logs each request itself, so uvicorn's access log is off.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1 to 65535, got {value}")
    return value


def positive_integer(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value
