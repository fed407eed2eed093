"""The REST server: the marketplace as an HTTP API, shared by remote desks, scripts and
browsers. ``desk serve`` runs it with uvicorn."""

from desk.backend.server.app import create_app

__all__ = ["create_app"]
