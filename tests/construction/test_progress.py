"""Progress counters equal a brute-force recount, whatever happens to components."""

import uuid
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from construction.extensions import db
from construction.lifecycle import RECORDED_ACTIONS
from construction.models import Component, Event, ProgressCounter, Project, Storey
from construction.services.progress import recount, report_day


def _counters(kind: str) -> dict:
    rows = db.session.execute(select(ProgressCounter).where(ProgressCounter.kind == kind))
    found = {}
    for (counter,) in rows:
        if counter.count:
            key = ((kind, counter.project_id, counter.storey_id, counter.component_type_id,
                    counter.state, counter.day, counter.region_code))
            found[key] = counter.count
    return found


def _daily_recount() -> dict:
    counts: Counter = Counter()
    for event, project_id, type_id in db.session.execute(
            select(Event, Component.project_id, Component.component_type_id)
            .join(Component, Event.component_id == Component.id)):
        counts[("day", project_id, None, type_id, event.action,
                report_day(event.server_time), None)] += 1
    return dict(counts)


steps = st.lists(st.tuples(st.sampled_from(["create", "move", *RECORDED_ACTIONS, "batch"]),
                           st.integers(min_value=0, max_value=7)), min_size=1, max_size=12)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps)
def test_counters_equal_a_recount_after_any_sequence(world, script):
    components = []
    for step, pick in script:
        if step == "create" or not components:
            components.append(world.component("planned"))
            continue
        target = components[pick % len(components)]
        if step == "move":
            with world.app.app_context():
                component = db.session.get(Component, target["id"])
                other = db.session.scalar(select(Storey.id).where(
                    Storey.id != component.storey_id).limit(1))
                component.storey_id = other if pick % 2 else None
                db.session.commit()
        elif step == "batch":
            items = [{"code": c["code"], "action": action,
                      "client_event_id": str(uuid.uuid4())}
                     for c in components[:3] for action in ("cast", "demould")]
            world.client("admin").post("/api/v1/scans/batch", json={"items": items})
        else:
            world.scan(target["code"], step, data={"record": "R-1"})  # refused ones count nothing
    with world.app.app_context():
        expected = {k: v for k, v in recount(db.session).items() if v}
        assert _counters("state") == expected
        by_project: Counter = Counter()
        for (_, project_id, _, type_id, state, _, _), count in expected.items():
            by_project[("pstate", project_id, None, type_id, state, None, None)] += count
        assert _counters("pstate") == dict(by_project)
        daily = _daily_recount()
        assert _counters("day") == daily
        by_project_day: Counter = Counter()
        by_region_day: Counter = Counter()
        regions = dict(db.session.execute(select(Project.id, Project.region_code)).all())
        for (_, project_id, _, _, action, day, _), count in daily.items():
            by_project_day[("pday", project_id, None, None, action, day, None)] += count
            by_region_day[("rday", None, None, None, action, day, regions[project_id])] += count
        assert _counters("pday") == dict(by_project_day)
        assert _counters("rday") == dict(by_region_day)
        total = sum(_counters("state").values())
        assert total == db.session.scalar(select(func.count()).select_from(Component))
