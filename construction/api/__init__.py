"""The API views, one module per resource (registered by construction.routes)."""
