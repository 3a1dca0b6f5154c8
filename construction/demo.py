"""A realistic demo: one project, its buildings, ~600 components moved by real events."""

from __future__ import annotations

import json
import os
import random
import secrets as secrets_module
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from construction import demo_loads, demo_production
from construction.extensions import db
from construction.models import (
    Building,
    Component,
    ComponentType,
    Organization,
    OrganizationKind,
    Project,
    ProjectParticipant,
    Role,
    Storey,
    User,
)
from construction.permissions import Principal
from construction.services.accounts import issue_token, principal_for_token, set_password
from construction.services.labels import issue_labels
from construction.services.scans import ScanItem, record_scans
from labels.codes import new_code

DEMO_USERS = {
    "admin": ("demo-admin", "manufacturer"),
    "project_manager": ("demo-project-manager", "contractor"),
    "factory_worker": ("demo-factory-worker", "manufacturer"),
    "qc_inspector": ("demo-qc-inspector", "manufacturer"),
    "site_supervisor": ("demo-site-supervisor", "supervisor"),
    "regulator": ("demo-regulator", "regulator"),
}

# name, category, mark prefix, per storey, (length, width, height mm), weight kg, grade
TYPES = [
    ("预制外墙板 Exterior wall panel", "wall_panel", "YWQ", 14, (3600, 200, 2900), 4850.0, "C30"),
    ("预制内墙板 Interior wall panel", "wall_panel", "NWQ", 10, (3000, 200, 2900), 3900.0, "C30"),
    ("叠合楼板 Composite slab", "slab", "DBS", 20, (3900, 2400, 60), 1400.0, "C30"),
    ("预制叠合梁 Composite beam", "beam", "DL", 10, (5400, 200, 450), 1210.0, "C35"),
    ("预制楼梯 Stair", "stair", "LT", 2, (4200, 1250, 1650), 3150.0, "C30"),
    ("预制阳台板 Balcony slab", "balcony", "YT", 4, (3300, 1400, 130), 1560.0, "C30"),
]

# Actions in lifecycle order with the role that performs them.
ROUTE = [("cast", "factory_worker"), ("demould", "factory_worker"), ("qc_pass", "qc_inspector"),
         ("store", "factory_worker"), ("load", "factory_worker"), ("depart", "factory_worker"),
         ("arrive", "site_supervisor"), ("accept_delivery", "site_supervisor"),
         ("install", "site_supervisor"), ("connect", "site_supervisor"),
         ("accept", "site_supervisor")]

CHINA = timezone(timedelta(hours=8))


def database_is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(Organization))


def load_demo(tokens_path: str, progress: Callable[[int], None] | None = None,
              seed: int = 7) -> dict[str, str]:
    """Create the demo organizations, users, project and events; write tokens."""
    rng = random.Random(seed)
    organizations = {
        kind: Organization(name=name, kind=OrganizationKind(kind), region_code=region)
        for kind, name, region in (
            ("manufacturer", "杭州城建预制构件有限公司 Hangzhou Precast Co.", "330110"),
            ("contractor", "浙江建工集团 Zhejiang Construction Group", "330106"),
            ("supervisor", "杭州正元监理公司 Zhengyuan Supervision", "330106"),
            ("regulator", "杭州市建设工程质量安全监督总站 Hangzhou Quality Station", "3301"))
    }
    users = {role: User(name=name, organization=organizations[kind], role=Role(role))
             for role, (name, kind) in DEMO_USERS.items()}
    db.session.add_all([*organizations.values(), *users.values()])
    project = Project(code="HZ-XX-2026-014", name="西溪花园二期 Xixi Garden Phase II",
                      region_code="330106", address="杭州市西湖区西溪路 Xixi Road, Hangzhou",
                      latitude=30.2720, longitude=120.0830)
    db.session.add(project)
    for kind in ("manufacturer", "contractor", "supervisor"):
        db.session.add(ProjectParticipant(project=project, organization=organizations[kind]))
    types = []
    for name, category, prefix, per_storey, (length, width, height), weight, grade in TYPES:
        component_type = ComponentType(
            project=project, manufacturer=organizations["manufacturer"], name=name,
            category=category, drawing=f"PC-{prefix}-01", length_mm=length, width_mm=width,
            height_mm=height, weight_kg=weight, concrete_grade=grade)
        db.session.add(component_type)
        types.append((component_type, prefix, per_storey))
    storeys = []
    for building_name in ("1#楼 Block 1", "2#楼 Block 2"):
        building = Building(project=project, name=building_name)
        db.session.add(building)
        for level in range(1, 6):
            storey = Storey(building=building, name=f"{level}F", elevation_m=(level - 1) * 2.9)
            db.session.add(storey)
            storeys.append(storey)
    db.session.flush()

    components: list[tuple[Component, int]] = []  # with the storey's rank in build order
    for rank, storey in enumerate(sorted(storeys, key=lambda s: (s.elevation_m, s.building_id))):
        sequence = 0
        for component_type, prefix, per_storey in types:
            for number in range(1, per_storey + 1):
                sequence += 1
                component = Component(
                    code=new_code(), project=project, component_type=component_type,
                    storey=storey, mark=f"{prefix}-{number}", install_sequence=sequence)
                db.session.add(component)
                components.append((component, rank))
    db.session.commit()

    secrets = {role: issue_token(user.id, name="demo")[1] for role, user in users.items()}
    principals = {role: principal_for_token(secret) for role, secret in secrets.items()}
    demo_production.set_up(principals, [t for t, _, _ in types],
                           organizations["manufacturer"].id)
    _drive_lifecycle(principals, components, len(storeys), rng, progress)
    # Every demo component has its label, so its resolver page opens from the QR.

    issue_labels(principals["factory_worker"], [component for component, _ in components],
                 layout="a4-3x8")
    db.session.commit()
    _write_tokens(tokens_path, secrets)
    set_demo_passwords(tokens_path)
    return secrets


def passwords_path(tokens_path: str) -> str:
    """Return where the demo sign-in passwords are written, beside the tokens."""
    return os.path.join(os.path.dirname(tokens_path) or ".", "demo-passwords.json")


def set_demo_passwords(tokens_path: str) -> dict[str, str] | None:
    """Give each demo user a new random page password; write them beside the tokens."""
    users = {u.name: u for u in db.session.scalars(
        select(User).where(User.name.in_([n for n, _ in DEMO_USERS.values()])))}
    if len(users) != len(DEMO_USERS):
        return None
    passwords = {}
    for name, user in sorted(users.items()):
        passwords[name] = secrets_module.token_urlsafe(9)
        set_password(user.id, passwords[name])
    _write_tokens(passwords_path(tokens_path), passwords)
    return passwords


def _target_steps(rank: int, storeys: int, rng: random.Random) -> int:
    """How far along the route a component on the `rank`-th storey has got."""
    progress = 1 - rank / storeys  # lower storeys are further along
    base = round(progress * len(ROUTE) * 1.25)
    return max(0, min(len(ROUTE), base + rng.randint(-2, 1)))


def _drive_lifecycle(principals: dict[str, Principal], components, storeys: int,
                     rng: random.Random, progress) -> None:
    start = datetime(2026, 9, 1, 8, 0, tzinfo=CHINA)
    targets = {component.id: _target_steps(rank, storeys, rng) for component, rank in components}
    project_id = components[0][0].project_id
    trip = [action for action, _ in demo_loads.TRIP]
    trip_end = max(step for step, (action, _) in enumerate(ROUTE) if action in trip) + 1
    trucks: dict[int, list] = {}  # by how far along the route their pieces go
    for step, (action, role) in enumerate(ROUTE):
        movers = [c for c, _ in components if targets[c.id] > step]
        when = start + timedelta(days=step * 5)
        data = {"record": "套筒灌浆记录 sleeve grouting record GJ-2026-11"} \
            if action == "connect" else None
        # The records each gate asks for come first: inspections, the pour, its tests.
        if action == "cast":
            demo_production.inspect(principals["qc_inspector"], movers, "pre_pour",
                                    when - timedelta(hours=2), rng, failing=3)
            late = demo_production.pour_and_test(principals, movers, when, rng,
                                                 start + timedelta(days=60))
        elif action == "qc_pass":
            demo_production.inspect(principals["qc_inspector"], movers, "post_demould",
                                    when - timedelta(hours=1), rng)
        elif action == "store":
            demo_production.late_results(principals["qc_inspector"], late, rng)
        if action == "load":
            # Pieces travel by truck: the pieces that go equally far share trucks,
            # planned in erection order, and each truck's label is scanned once.
            for reach in range(step + 1, trip_end + 1):
                trucks[reach] = demo_loads.plan_trucks(
                    principals, project_id,
                    [c.id for c in movers if min(targets[c.id], trip_end) == reach], rng)
        if action in trip:
            demo_loads.scan_trucks(principals, [load for reach, loads in trucks.items()
                                                if reach > step for load in loads],
                                   action, when, rng)
        else:
            _scan(principals[role], movers, action, when, rng, data=data)
        if progress:
            progress(1)
    # A plausible handful of exceptions, each made by the role that would make it.
    by_state: dict[str, list[Component]] = {}
    for component, _ in components:
        db.session.refresh(component)
        by_state.setdefault(component.state, []).append(component)
    when = start + timedelta(days=60)
    qc, site, manager = principals["qc_inspector"], principals["site_supervisor"], \
        principals["project_manager"]
    # Failed post-demould inspections open NCRs with the failed item's category.
    demo_production.inspect(qc, by_state.get("demoulded", [])[:4], "post_demould", when, rng,
                            failing=4)
    _scan(qc, by_state.get("stored", [])[:3], "hold", when, rng,
          data={"reason": "awaiting 28-day strength report"})
    _scan(site, by_state.get("delivered", [])[:2], "report_damage", when, rng,
          data={"reason": "corner spalling in transport"})
    _scan(site, by_state.get("delivered", [])[2:3], "reject_delivery", when, rng,
          data={"reason": "wrong embedded parts"})
    _scan(manager, by_state.get("cast", [])[:1], "scrap", when, rng,
          data={"reason": "mould failure"})
    # Today's trucks for the dashboard: the yard's next pieces (not those on hold).
    now = datetime.now(CHINA).replace(minute=0, second=0, microsecond=0)
    demo_loads.trucks_for_today(principals, project_id, by_state.get("stored", [])[3:], now, rng)


def _scan(principal: Principal, components: list[Component], action: str, when: datetime,
          rng: random.Random, data: dict | None = None) -> None:
    items = [ScanItem(code=c.code, action=action, client_event_id=str(uuid.uuid4()),
                      client_time=when + timedelta(minutes=rng.randint(0, 600)),
                      device="demo-handheld-01", data=dict(data) if data else None)
             for c in components]
    for start in range(0, len(items), 500):
        results = record_scans(principal, items[start:start + 500])
        refused = [r.problem.detail for r in results if r.outcome != "accepted"]
        if refused:
            raise RuntimeError(f"demo scan '{action}' refused: {refused[:3]}")


def _write_tokens(path: str, secrets: dict[str, str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(secrets, handle, indent=2)
        handle.write("\n")


def refresh_tokens(tokens_path: str) -> dict[str, str] | None:
    """Issue new tokens for the demo users (when the token file was lost)."""
    users = {u.name: u for u in db.session.scalars(
        select(User).where(User.name.in_([n for n, _ in DEMO_USERS.values()])))}
    if len(users) != len(DEMO_USERS):
        return None
    secrets = {role: issue_token(users[name].id, name="demo")[1]
               for role, (name, _) in DEMO_USERS.items()}
    _write_tokens(tokens_path, secrets)
    set_demo_passwords(tokens_path)
    return secrets
