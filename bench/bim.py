"""IFC import benchmark: time and peak memory of a model import, a re-import, and a baseline.

    .venv/bin/python bench/bim.py [--elements 20000] [--tekla ../shared/corpus/ifc/...ifc]
                                  [--database-url postgresql+psycopg://...]

For the Tekla precast model and a synthetic model of `--elements` cast units (built with
IfcOpenShell's API: one IfcElementAssembly with one beam part each, a `Tekla Assembly`
property set with mark and weight, ten storeys), each case runs in a fresh Python process
(so that its peak resident memory, VmHWM, is its own; "at start" is the process with its
libraries loaded, before the case) against one database (a temporary SQLite file unless
`--database-url` names a PostgreSQL database, which is EMPTIED and migrated):

- baseline: `ifcopenshell.open` and one pass over every IfcElement reading its GlobalId,
  class, Name and Tag: the least any importer must do;
- import: the whole import into an empty project (store the file by hash, parse, diff,
  insert components, storeys and types, progress counters), as `flask bim import` runs it;
- re-import, same bytes: the file sent again (the no-op path: the same model is answered);
- re-import, new bytes: the same model re-exported (another header time stamp, so another
  hash): parsed and diffed again, every component unchanged, nothing written.

Targets: the 20,000-element model imports in <= 60 s and <= 1 GiB; a re-import of the
unchanged file in <= 20 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_TEKLA = ROOT.parent / "shared" / "corpus" / "ifc" / "precast_tekla_carwash.ifc"
GIB = 1024 ** 3


def _peak_bytes() -> int:
    """The process's peak resident memory (VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _app(folder: Path, database_url: str):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "JOBS": "inline",
                       "STORAGE": "local", "PHOTO_DIR": str(folder / "files"),
                       "LABEL_SIGNING_KEY_FILE": str(folder / "label-key.pem"),
                       "LEDGER_SIGNING_KEY_FILE": str(folder / "ledger-key.pem"),
                       "LEDGER_CHECKPOINT_EXPORT": ""})


def _prepare(folder: Path, database_url: str, projects: list[str]) -> None:
    """Migrate the database; an admin and one project per model to import into."""
    import flask_migrate
    from sqlalchemy import text

    from construction.extensions import db
    from construction.models import Organization, OrganizationKind, Project, Role, User
    from labels.keys import write_new_key

    write_new_key(str(folder / "label-key.pem"))
    write_new_key(str(folder / "ledger-key.pem"))
    app = _app(folder, database_url)
    logging.disable(logging.INFO)  # alembic's line per migration
    with app.app_context():
        if database_url.startswith("postgresql"):
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        organization = Organization(name="Bench plant", kind=OrganizationKind.manufacturer,
                                    region_code="310000")
        db.session.add(organization)
        db.session.flush()
        db.session.add(User(name="bench-admin", organization_id=organization.id,
                            role=Role.admin))
        for code in projects:
            db.session.add(Project(code=code, name=code, region_code="310000"))
        db.session.commit()


def _child(case: str, path: Path, folder: Path, database_url: str, project: str) -> dict:
    """Run one case in this process; return its figures."""
    import ifcopenshell  # loaded before timing in every case, as a warm worker has it

    started_bytes = _peak_bytes()
    if case == "baseline":
        start = time.perf_counter()
        model = ifcopenshell.open(str(path))
        elements = sum(1 for element in model.by_type("IfcElement")
                       if (element.GlobalId, element.is_a(), element.Name, element.Tag))
        return {"seconds": time.perf_counter() - start, "peak_bytes": _peak_bytes(),
                "start_bytes": started_bytes, "elements": elements}
    from sqlalchemy import select

    from construction.extensions import db
    from construction.models import Project, User
    from construction.services.accounts import principal_of_user
    from construction.services.models import import_model, submit_model

    app = _app(folder, database_url)
    with app.app_context():
        principal = principal_of_user(db.session.scalar(select(User.id).where(
            User.name == "bench-admin")))
        project_id = db.session.scalar(select(Project.id).where(Project.code == project))
        data = path.read_bytes()
        started_bytes = _peak_bytes()
        start = time.perf_counter()
        model, created = submit_model(principal, project_id, path.name, data)
        if created:
            model = import_model(model.id)
        seconds = time.perf_counter() - start
        if model.status != "done":
            raise SystemExit(f"{case}: the import {model.status}: {model.reason}")
        return {"seconds": seconds, "peak_bytes": _peak_bytes(), "start_bytes": started_bytes,
                "new_model": created, "added": model.added, "changed": model.changed,
                "unchanged": model.unchanged, "removed": model.removed,
                "skipped": model.skipped}


def _run(case: str, path: Path, folder: Path, database_url: str, project: str) -> dict:
    command = [sys.executable, __file__, "--child", case, "--file", str(path),
               "--folder", str(folder), "--database-url", database_url, "--project", project]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(output.stdout.strip().splitlines()[-1])


def _re_exported(path: Path, folder: Path) -> Path:
    """The same model with another header time stamp: other bytes, the same content."""
    text = path.read_bytes()
    changed, count = re.subn(rb"(FILE_NAME\s*\(\s*'[^']*'\s*,\s*')[^']*'",
                             rb"\g<1>2030-01-01T00:00:00'", text, count=1)
    if count == 0 or changed == text:
        changed = text + b"\n"
    target = folder / f"{path.stem}-re-exported.ifc"
    target.write_bytes(changed)
    return target


def _synthetic(count: int, folder: Path) -> tuple[Path, float]:
    from bim.synthetic import build_model, precast_pieces

    start = time.perf_counter()
    path = folder / f"synthetic-{count}.ifc"
    build_model(precast_pieces(count), schema="IFC2X3", storeys=10).write(str(path))
    return path, time.perf_counter() - start


def _mib(value: int) -> str:
    return f"{value / 1024 ** 2:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elements", type=int, default=20000)
    parser.add_argument("--tekla", type=Path, default=DEFAULT_TEKLA)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to empty (DROP SCHEMA public) and migrate "
                        "(default: a temporary SQLite file)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.file, args.folder, args.database_url,
                                args.project)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-bim-") as name:
        folder = Path(name)
        database_url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        synthetic, built = _synthetic(args.elements, folder)
        models = {"Tekla carwash": args.tekla, f"synthetic {args.elements:,}": synthetic}
        _prepare(folder, database_url, [f"P{index}" for index in range(len(models))])
        print(f"database: {database_url.split('://')[0]}; synthetic model built and written "
              f"in {built:.1f} s ({synthetic.stat().st_size / 1e6:.1f} MB)")
        rows = []
        for index, (label, path) in enumerate(models.items()):
            project = f"P{index}"
            baseline = _run("baseline", path, folder, database_url, project)
            first = _run("import", path, folder, database_url, project)
            same = _run("import", path, folder, database_url, project)
            again = _run("import", _re_exported(path, folder), folder, database_url, project)
            is_target = index == 1
            rows.append((f"{label}: open + iterate (baseline)", baseline, "", baseline))
            rows.append((f"{label}: import ({first['added']:,} added, {first['skipped']:,} "
                         f"skipped)", first, "<= 60 s, <= 1 GiB" if is_target else "", baseline))
            rows.append((f"{label}: re-import, same bytes (new model: {same['new_model']})",
                         same, "<= 20 s" if is_target else "", baseline))
            rows.append((f"{label}: re-import, new bytes ({again['unchanged']:,} unchanged, "
                         f"{again['changed'] + again['added'] + again['removed']} changed)",
                         again, "<= 20 s" if is_target else "", baseline))
        print()
        print("| case | seconds | peak memory (at start) | target | × baseline time |")
        print("| --- | --- | --- | --- | --- |")
        for label, figures, target, baseline in rows:
            ratio = figures["seconds"] / baseline["seconds"] if figures is not baseline else 1
            met = ""
            if target:
                met = " ✓" if figures["seconds"] <= (60 if "60" in target else 20) and \
                    figures["peak_bytes"] <= GIB else " ✗"
            print(f"| {label} | {figures['seconds']:.2f} | {_mib(figures['peak_bytes'])} "
                  f"({_mib(figures['start_bytes'])}) | "
                  f"{target}{met} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
