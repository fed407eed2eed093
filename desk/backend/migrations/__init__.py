"""Alembic migrations of the market schema; ``desk.backend.schema`` runs them."""
