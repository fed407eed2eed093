"""The routers of the REST API, one module per area, all under ``/api``."""
