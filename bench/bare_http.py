"""The baseline server of the HTTP benchmark: a bare FastAPI app that returns stored bytes.

It serves ``GET /api/market/prices`` and ``POST /api/trades/execute`` with bodies that a real
``desk serve`` returned, read from files at start and kept in memory, and ``GET /api/health``
for the start-up check. It runs under uvicorn with the configuration that ``desk serve``
builds (``desk.cli.uvicorn_config``), in one process as ``desk serve`` does, so the two servers
differ only in what happens inside the application.

    python -m bench.bare_http --port PORT --prices FILE --execute FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi import FastAPI, Response

from bench.load import HOST


def create_bare_app(prices_body: bytes, execute_body: bytes) -> FastAPI:
    """Build an app whose two endpoints return the given bytes as JSON and read nothing."""
    app = FastAPI()

    @app.get("/api/market/prices")
    async def prices() -> Response:
        return Response(prices_body, media_type="application/json")

    @app.post("/api/trades/execute")
    async def execute() -> Response:
        return Response(execute_body, media_type="application/json")

    @app.get("/api/health")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from desk.cli import uvicorn_config
    from desk.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m bench.bare_http",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--prices", type=Path, required=True,
                        help="file with the body of GET /api/market/prices")
    parser.add_argument("--execute", type=Path, required=True,
                        help="file with the body of POST /api/trades/execute")
    arguments = parser.parse_args(argv)
    app = create_bare_app(arguments.prices.read_bytes(), arguments.execute.read_bytes())
    uvicorn.Server(uvicorn_config(app, Settings(), HOST, arguments.port)).run()


if __name__ == "__main__":
    main()
