"""PostgreSQL databases of a test's own, made beside the one TEST_DATABASE_URL names."""

import os

from bench.capture import drop_postgres, recreate_postgres

__all__ = ["drop_postgres", "fresh_postgres"]


def fresh_postgres(suffix: str) -> str:
    """Make an empty database named after the test database and `suffix`; return its URL."""
    url = f"{os.environ['TEST_DATABASE_URL']}_{suffix}"
    recreate_postgres(url)
    return url
