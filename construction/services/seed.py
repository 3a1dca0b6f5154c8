"""Benchmark data at scale: components, sealed events and counters, by bulk insert.

`flask bench seed --components 1000000` fills an empty database with one
region's projects, buildings, storeys and types, a million components along
their lifecycle (about ten events each, every one sealed into the hash
chain), and the progress counters those events imply. PostgreSQL gets COPY;
SQLite gets batched inserts.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from construction.extensions import db
from construction.ledger_format import GENESIS, MerkleBuilder, chain_hash, content_hash
from construction.lifecycle import ACTIONS
from construction.models import (
    Building,
    Component,
    ComponentType,
    Organization,
    OrganizationKind,
    ProgressCounter,
    Project,
    ProjectParticipant,
    Role,
    Storey,
    User,
)
from construction.services.chain import merkle_top, signed_checkpoint, store_merkle_nodes
from construction.services.progress import (
    bump,
    count_transition,
    counter_rows,
    project_key,
    report_day,
    state_key,
)
from labels.codes import new_code

ROUTE = ["cast", "demould", "qc_pass", "store", "load", "depart", "arrive", "accept_delivery",
         "install", "connect", "accept"]
EVENT_COLUMNS = ["id", "component_id", "action", "from_state", "to_state", "user_id",
                 "organization_id", "device", "client_event_id", "client_time",
                 "client_utc_offset_minutes", "server_time", "location", "data",
                 "corrects_event_id", "sequence", "content_hash", "chain_hash"]
REGION = "330106"  # the seeded projects' district
COMPONENT_COLUMNS = ["id", "code", "project_id", "component_type_id", "storey_id", "mark",
                     "install_sequence", "state", "on_hold", "damaged", "ncr_open", "version",
                     "created_at", "updated_at"]


def _layout(project: Project, manufacturer: Organization | None, buildings: int,
            storeys: int) -> tuple[list[ComponentType], list[Storey]]:
    """Add a project's five component types and its buildings' storeys (each lowest first)."""
    types = [ComponentType(project=project, manufacturer=manufacturer, name=name, category=name,
                           weight_kg=weight, concrete_grade="C35")
             for name, weight in (("wall", 4800.0), ("slab", 2600.0), ("stair", 1900.0),
                                  ("beam", 3100.0), ("balcony", 1500.0))]
    db.session.add_all(types)
    levels = []
    for block in range(buildings):
        building = Building(project=project, name=f"{block + 1}#")
        db.session.add(building)
        for level in range(storeys):
            levels.append(Storey(building=building, name=f"{level + 1}F",
                                 elevation_m=level * 2.9))
    db.session.add_all(levels)
    return types, levels


def _skeleton(projects: int):
    maker = Organization(name="Bench Precast Co.", kind=OrganizationKind.manufacturer,
                         region_code="330110")
    builder = Organization(name="Bench Builder", kind=OrganizationKind.contractor,
                           region_code="330106")
    regulator = Organization(name="Bench Station", kind=OrganizationKind.regulator,
                             region_code="3301")
    db.session.add_all([maker, builder, regulator])
    worker = User(name="bench-worker", organization=maker, role=Role.admin)
    inspector = User(name="bench-regulator", organization=regulator, role=Role.regulator)
    db.session.add_all([worker, inspector])
    places = []
    for number in range(projects):
        project = Project(code=f"BENCH-{number:03d}", name=f"Bench project {number}",
                          region_code=REGION, latitude=30.27, longitude=120.08)
        db.session.add(project)
        db.session.add_all([ProjectParticipant(project=project, organization=maker),
                            ProjectParticipant(project=project, organization=builder)])
        places.append((project, *_layout(project, maker, buildings=4, storeys=30)))
    db.session.commit()
    return worker, maker, [(p.id, [t.id for t in types], [s.id for s in storeys])
                           for p, types, storeys in places]


def seed(components: int, projects: int = 10, seed_value: int = 2026,
         progress: Callable[[int], None] | None = None, chunk: int = 5000,
         checkpoint_every: int = 100_000) -> dict:
    """Fill an empty database; return counts.

    Event times rise along the chain (as they do when events are sealed as
    they come), and a signed checkpoint follows every `checkpoint_every` events.
    """
    if db.session.scalar(select(func.count()).select_from(Component)):
        raise RuntimeError("the database already has components: seed an empty one")
    rng = random.Random(seed_value)
    worker, maker, places = _skeleton(projects)
    start = datetime.now(UTC) - timedelta(days=365)
    connection = db.session.connection()
    postgres = connection.dialect.name == "postgresql"
    counters: Counter = Counter()
    previous, event_id, written = GENESIS, 0, 0
    step = timedelta(days=300) / max(components * 10, 1)
    builder, marks, last_mark = MerkleBuilder(), 0, None
    codes: set[str] = set()
    for first in range(0, components, chunk):
        component_rows, event_rows, pending_marks = [], [], []
        for component_id in range(first + 1, min(first + chunk, components) + 1):
            project_id, type_ids, storey_ids = places[component_id % len(places)]
            # Not `component_id % len(type_ids)`: with ten projects that gave each project
            # one type, and the per-type counters looked like the per-project ones.
            type_id = type_ids[(component_id // len(places)) % len(type_ids)]
            storey_id = storey_ids[(component_id // len(places)) % len(storey_ids)]
            code = new_code()
            while code in codes:
                code = new_code()
            codes.add(code)
            steps = ROUTE[:rng.randint(7, 11)]
            if rng.random() < 0.3:
                steps = steps[:2] + ["hold", "release"] + steps[2:]
            state = "planned"
            for action in steps:
                event_id += 1
                moment = start + step * event_id
                after = ACTIONS[action].to_state or state
                record = {"id": event_id, "component_id": component_id, "action": action,
                          "from_state": state, "to_state": after, "user_id": worker.id,
                          "organization_id": maker.id, "device": None,
                          "client_event_id": f"seed-{event_id}", "client_time": None,
                          "client_utc_offset_minutes": None, "server_time": moment,
                          "location": None,
                          "data": {"record": "R-1"} if action in ("connect", "repair") else None,
                          "corrects_event_id": None}
                content = content_hash(record)
                previous = chain_hash(previous, content)
                event_rows.append([*record.values(), event_id, content, previous])
                builder.add(content)
                if event_id % checkpoint_every == 0:
                    pending_marks.append((event_id, previous, builder.root(), moment))
                    builder = MerkleBuilder()
                count_transition(counters, project_id, REGION, type_id, report_day(moment),
                                 action)
                state = after
            counters[state_key(project_id, storey_id, type_id, state)] += 1
            counters[project_key(project_id, type_id, state)] += 1
            component_rows.append([component_id, code, project_id, type_id, storey_id,
                                   f"M-{component_id % 217}", component_id % 40, state, False,
                                   False, False, len(steps), start, moment])
        _insert(connection, postgres, "component", COMPONENT_COLUMNS, component_rows)
        _insert(connection, postgres, "event", EVENT_COLUMNS, event_rows)
        for sequence, head, root, moment in pending_marks:
            checkpoint = signed_checkpoint(last_mark.sequence + 1 if last_mark else 1, sequence,
                                           head, root, last_mark, moment + timedelta(minutes=1))
            db.session.add(checkpoint)
            db.session.flush()
            store_merkle_nodes(checkpoint.id, merkle_top(checkpoint.first_sequence, sequence))
            last_mark, marks = checkpoint, marks + 1
        written += len(component_rows)
        if progress:
            progress(len(component_rows))
    rows = counter_rows(counters)
    db.session.execute(ProgressCounter.__table__.insert(), rows)
    if postgres:
        for table in ("component", "event"):
            connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT max(id) FROM {table}))"))
    db.session.commit()
    return {"components": written, "events": event_id, "counters": len(rows),
            "checkpoints": marks}


def _insert(connection, postgres: bool, table: str, columns: list[str], rows: list) -> None:
    if postgres:

        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row])
        return
    table_object = db.metadata.tables[table]
    connection.execute(table_object.insert(), [dict(zip(columns, row, strict=True))
                                               for row in rows])


# --- one project at scale, beside what is there ------------------------------------------

# The states along ROUTE, from planned to accepted.
LIFECYCLE = ["planned", *(ACTIONS[action].to_state for action in ROUTE)]
_GLOBAL_ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$"


def seeded_global_id(project_id: int, number: int) -> str:
    """Return the IFC GlobalId `seed_project` gives a project's `number`th component."""
    value, digits = project_id << 40 | number, []
    for _ in range(21):
        value, digit = divmod(value, 64)
        digits.append(_GLOBAL_ID_DIGITS[digit])
    return "0" + "".join(reversed(digits))


def seed_project(components: int, organization_ids: list[int], code: str = "SCALE-001",
                 buildings: int = 4, storeys: int = 30, seed_value: int = 2026,
                 chunk: int = 5000) -> int:
    """Add one project of `components` pieces to the database, in bulk; return its id.

    Beside whatever is there (unlike `seed`): the organizations take part in it; its
    pieces stand in states along the lifecycle (the lower the storey, the further
    along), about 1 % on hold, 0.5 % damaged and 1 % with an NCR open, each with an
    IFC GlobalId (`seeded_global_id`), and the progress counters count them. The
    pieces have no events: for reading at scale (dashboards, benchmarks), not for
    the ledger.
    """
    rng = random.Random(seed_value)
    project = Project(code=code, name=f"Scale project {code}", region_code="330106",
                      latitude=30.27, longitude=120.08)
    db.session.add(project)
    db.session.add_all(ProjectParticipant(project=project, organization_id=organization_id)
                       for organization_id in organization_ids)
    makers = set(db.session.scalars(select(Organization.id).where(
        Organization.id.in_(organization_ids),
        Organization.kind == OrganizationKind.manufacturer)))
    maker = db.session.get(Organization, min(makers)) if makers else None
    types, levels = _layout(project, maker, buildings, storeys)
    db.session.flush()
    connection = db.session.connection()
    postgres = connection.dialect.name == "postgresql"
    now = datetime.now(UTC)
    counters: Counter = Counter()
    columns = ["code", "project_id", "component_type_id", "storey_id", "mark",
               "install_sequence", "state", "on_hold", "damaged", "ncr_open", "version",
               "ifc_global_id", "ifc_class", "removed_from_model", "created_at", "updated_at"]
    codes: set[str] = set()
    for first in range(0, components, chunk):
        rows = []
        for number in range(first, min(first + chunk, components)):
            place = number * len(levels) // components
            storey, level = levels[place], place % storeys
            component_type = types[number % len(types)]
            ahead = (1 - level / max(storeys - 1, 1)) * len(LIFECYCLE) + rng.gauss(0, 2)
            state = LIFECYCLE[min(max(int(ahead), 0), len(LIFECYCLE) - 1)]
            odd = rng.random()
            state = "scrapped" if odd < 0.002 else "rejected" if odd < 0.005 else state
            code = new_code()
            while code in codes:
                code = new_code()
            codes.add(code)
            started = state not in ("planned", "scrapped")
            rows.append([code, project.id, component_type.id, storey.id,
                         f"{component_type.name[0].upper()}-{number % 400 + 1}", number,
                         state, rng.random() < 0.01, started and rng.random() < 0.005,
                         started and state != "cast" and rng.random() < 0.01, 0,
                         seeded_global_id(project.id, number), "IfcElementAssembly", False,
                         now - timedelta(days=30), now - timedelta(days=rng.randint(0, 30))])
            counters[state_key(project.id, storey.id, component_type.id, state)] += 1
            counters[project_key(project.id, component_type.id, state)] += 1
        _insert(connection, postgres, "component", columns, rows)
    bump(connection, counters)
    db.session.commit()
    return project.id
