"""PostgreSQL databases of a test's own, made beside the one TEST_DATABASE_URL names."""

import os

from sqlalchemy import create_engine, text


def _maintenance(url: str):
    return create_engine(f"{url.rsplit('/', 1)[0]}/postgres", isolation_level="AUTOCOMMIT")


def fresh_postgres(suffix: str) -> str:
    """Make an empty database named after the test database and `suffix`; return its URL."""
    base, name = os.environ["TEST_DATABASE_URL"].rsplit("/", 1)
    url = f"{base}/{name}_{suffix}"
    drop_postgres(url)
    engine = _maintenance(url)
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}_{suffix}"'))
    engine.dispose()
    return url


def drop_postgres(url: str) -> None:
    """Drop the database the URL names, closing its connections."""
    engine = _maintenance(url)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()
