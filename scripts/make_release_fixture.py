"""Make a database fixture with a given release: what tests/test_upgrade.py upgrades.

    .venv/bin/python scripts/make_release_fixture.py 9cc8f4e
    .venv/bin/python scripts/make_release_fixture.py v1.4 --postgres-url \
        postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The release's code is taken from git (`git archive COMMIT`) into a temporary
folder. With that code, for SQLite and for PostgreSQL, a fresh database gets
the release's migrations (`flask db upgrade`) and a little of everything a
site makes through the release's own CLI and API: organizations and users,
a project, a building with storeys, a component type, components imported
from CSV, labels, scans along the lifecycle (one delivery rejected, one piece
accepted), a signed checkpoint and scans after it. The database is then
dumped as SQL text (SQLite: `iterdump`; PostgreSQL: `pg_dump` plain SQL) into
tests/fixtures/releases/COMMIT/{sqlite,postgresql}.sql, beside a JSON file
with the revision, every table's row count and the release's API answers
about the components, which the upgrade test compares with today's.

The PostgreSQL server at --postgres-url gets a scratch database, dropped at
the end. Only the standard library is imported here at first: the same file
runs inside the release's code as the scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = "prefabtrace_release_fixture"

# The pieces made: a mark, the actions scanned before the checkpoint, and after it.
PIECES = [
    ("W-1", ["cast", "demould", "qc_pass", "store", "load", "depart", "arrive",
             "accept_delivery", "install", "connect", "accept"], []),
    ("W-2", ["cast", "demould", "qc_pass", "store", "load", "depart", "arrive",
             "accept_delivery", "install"], ["connect"]),
    ("W-3", ["cast", "demould", "qc_pass", "load", "depart", "arrive", "reject_delivery"],
     ["store"]),
    ("W-4", ["cast", "demould", "qc_pass", "store"], []),
    ("W-5", ["cast"], ["demould"]),
    ("W-6", [], ["cast"]),
]


def _scenario(output: str) -> None:
    """Run inside the release's code: migrate, make the rows, write what the API answered."""
    import flask_migrate
    from sqlalchemy import func, inspect, select, table

    from app import create_app
    from construction.extensions import db

    app = create_app({"RATELIMIT_ENABLED": False, "TOKEN_CACHE_SECONDS": 0})
    with app.app_context():
        flask_migrate.upgrade()
    runner = app.test_cli_runner()

    def cli(*args: str) -> str:
        result = runner.invoke(args=list(args))
        if result.exit_code != 0:
            raise SystemExit(f"flask {' '.join(args)} failed: {result.output}")
        return result.output

    organizations = {}
    for key, name, kind, region in (
            ("maker", "Qiantang Precast", "manufacturer", "330110"),
            ("builder", "West Lake Construction", "contractor", "330106"),
            ("supervisor", "Xixi Supervision", "supervisor", "330106"),
            ("regulator", "Hangzhou Quality Station", "regulator", "3301")):
        said = cli("users", "create-org", name, "--kind", kind, "--region", region)
        organizations[key] = int(re.search(r"organization (\d+)", said).group(1))
    said = cli("users", "create", "release-admin", "--org", str(organizations["maker"]),
               "--role", "admin", "--days", "30")
    token = re.search(r"\(shown once\): (\S+)", said).group(1)
    for role, key in (("factory_worker", "maker"), ("site_supervisor", "supervisor"),
                      ("regulator", "regulator")):
        cli("users", "create", f"release-{role}", "--org", str(organizations[key]), "--role",
            role, "--no-token")

    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def call(method: str, path: str, **body):
        response = client.open(path, method=method, **body)
        if response.status_code >= 300:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.get_data()}")
        return response.get_json()

    project = call("POST", "/api/v1/projects", json={
        "code": "REL-001", "name": "Release fixture", "region_code": "330106",
        "participant_ids": [organizations[k] for k in ("maker", "builder", "supervisor")]})
    building = call("POST", f"/api/v1/projects/{project['id']}/buildings", json={"name": "B1"})
    for level in (1, 2):
        call("POST", f"/api/v1/buildings/{building['id']}/storeys",
             json={"name": f"{level}F", "elevation_m": (level - 1) * 2.9})
    call("POST", f"/api/v1/projects/{project['id']}/component-types", json={
        "name": "Wall panel", "category": "wall_panel", "weight_kg": 4850.0,
        "concrete_grade": "C30", "manufacturer_id": organizations["maker"]})
    rows = "".join(f"{mark},Wall panel,B1,{1 + number // 3}F,{number + 1}\n"
                   for number, (mark, _, _) in enumerate(PIECES))
    imported = call("POST", f"/api/v1/projects/{project['id']}/components/import",
                    data="mark,type,building,storey,install_sequence\n" + rows,
                    content_type="text/csv")
    components = dict(zip([mark for mark, _, _ in PIECES],
                          zip(imported["ids"], imported["codes"], strict=True), strict=True))

    def scan(mark: str, action: str, minute: int) -> None:
        component_id, code = components[mark]
        body = {"code": code, "action": action, "client_event_id": f"release-{mark}-{action}",
                "client_time": f"2026-11-20T{8 + minute // 60:02d}:{minute % 60:02d}:00+08:00"}
        if action == "connect":
            body["data"] = {"record": f"GROUT-{mark}"}
        call("POST", "/api/v1/scans", json=body)

    minute = 0
    for mark, before, _ in PIECES:
        component_id, _ = components[mark]
        call("POST", f"/api/v1/components/{component_id}/labels", json={"reprint": False})
        for action in before:
            scan(mark, action, minute)
            minute += 1
    call("POST", "/api/v1/ledger/checkpoints")
    for mark, _, after in PIECES:
        for action in after:
            scan(mark, action, minute)
            minute += 1

    answers = {}
    for component_id, _ in components.values():
        for path in (f"/api/v1/components/{component_id}",
                     f"/api/v1/components/{component_id}/events"):
            answers[path] = call("GET", path)
    for path in (f"/api/v1/progress?project_id={project['id']}", "/api/v1/ledger/checkpoints",
                 "/api/v1/ledger/keys"):
        answers[path] = call("GET", path)
    with app.app_context():
        from alembic.runtime.migration import MigrationContext

        with db.engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            counts = {name: connection.scalar(select(func.count()).select_from(table(name)))
                      for name in sorted(inspect(connection).get_table_names())}
        db.engine.dispose()
    document = {"revision": revision, "admin_user": "release-admin",
                "components": [component_id for component_id, _ in components.values()],
                "counts": counts, "answers": answers}
    Path(output).write_text(json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True)
                            + "\n", encoding="utf-8")


def _run_scenario(tree: Path, work: Path, database_url: str, output: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(tree), "DATABASE_URL": database_url,
                   "LABEL_SIGNING_KEY_FILE": str(work / "label-key.pem"),
                   "LEDGER_SIGNING_KEY_FILE": str(work / "ledger-key.pem"),
                   "LEDGER_CHECKPOINT_EXPORT": "", "PHOTO_DIR": str(work / "photos"),
                   "JOBS": "inline", "STORAGE": "local", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--scenario", str(output)],
                   cwd=tree, env=environment, check=True)


def _scratch_postgres(server_url: str, create: bool) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)'))
        if create:
            connection.execute(text(f'CREATE DATABASE "{SCRATCH}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{SCRATCH}"


def _dump_postgres(database_url: str, target: Path) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    sys.path.insert(0, str(ROOT))
    from construction.services.backups import libpq_address, postgres_tool, server_major

    engine = create_engine(database_url)
    with engine.connect() as connection:
        major = server_major(connection)
    engine.dispose()
    address, environment = libpq_address(make_url(database_url))
    pg_dump = postgres_tool("pg_dump", major)
    # A dump by a client with psql's \restrict carries a random key unless given one: a
    # fixed key keeps a fixture made again the same where its rows are.
    helps = subprocess.run([pg_dump, "--help"], capture_output=True, text=True).stdout
    fixed = ["--restrict-key=prefabtrace"] if "--restrict-key" in helps else []
    subprocess.run([pg_dump, "--format=plain", "--no-owner", "--no-privileges", *fixed,
                    f"--file={target}", f"--dbname={address}"], env=environment, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit", nargs="?", help="the release: a commit, tag or branch")
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "releases"),
                        help="fixtures folder (a folder per release is made in it)")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                        "postgres", help="a PostgreSQL server's maintenance database")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        _scenario(args.scenario)
        return
    if not args.commit:
        parser.error("name the release's commit")
    short = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=7", args.commit],
                           capture_output=True, text=True, check=True).stdout.strip()
    folder = Path(args.out) / short
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="prefabtrace-release-"))
    try:
        tree = work / "tree"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.commit],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        for engine in args.engines.split(","):
            if engine == "sqlite":
                path = work / "release.db"
                _run_scenario(tree, work, f"sqlite:///{path}", folder / "sqlite.json")
                with sqlite3.connect(path) as connection:
                    (folder / "sqlite.sql").write_text(
                        "\n".join(connection.iterdump()) + "\n", encoding="utf-8")
            elif engine == "postgresql":
                database_url = _scratch_postgres(args.postgres_url, create=True)
                try:
                    _run_scenario(tree, work, database_url, folder / "postgresql.json")
                    _dump_postgres(database_url, folder / "postgresql.sql")
                finally:
                    _scratch_postgres(args.postgres_url, create=False)
            else:
                raise SystemExit(f"unknown engine {engine!r}")
            shutil.rmtree(work / "photos", ignore_errors=True)
            print(f"{engine}: {folder / (engine + '.sql')} "
                  f"({(folder / (engine + '.sql')).stat().st_size:,} bytes)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
