"""Racing scans: no lost update, no double transition, no 500."""

import threading
import uuid
from collections import Counter

from sqlalchemy import select

from construction.extensions import db
from construction.models import Component, Event

THREADS = 8


def race(world, bodies_per_thread, role="admin", path="/api/v1/scans"):
    """Post each thread's bodies in order, all threads released at once."""
    barrier = threading.Barrier(len(bodies_per_thread))
    statuses: list[list[tuple[int, dict]]] = [[] for _ in bodies_per_thread]

    def work(index):
        client = world.client(role)
        barrier.wait()
        for body in bodies_per_thread[index]:
            response = client.post(path, json=body)
            statuses[index].append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(bodies_per_thread))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [item for per_thread in statuses for item in per_thread]


def events_of(app, component_id):
    with app.app_context():
        return db.session.scalars(select(Event).where(Event.component_id == component_id)
                                  .order_by(Event.id)).all()


def test_only_one_of_many_racing_casts_wins(world, app):
    component = world.component("planned")
    bodies = [[{"code": component["code"], "action": "cast",
                "client_event_id": str(uuid.uuid4())}] for _ in range(THREADS)]
    results = race(world, bodies)
    counts = Counter(status for status, _ in results)
    assert counts == {201: 1, 409: THREADS - 1}, counts
    assert len(events_of(app, component["id"])) == 1


def test_hammering_hold_and_release_loses_nothing(world, app, runner):
    component = world.component("stored")
    rounds = 12
    bodies = [[{"code": component["code"], "action": "hold" if (i + t) % 2 == 0 else "release",
                "client_event_id": str(uuid.uuid4())} for i in range(rounds)]
              for t in range(THREADS)]
    results = race(world, bodies)
    counts = Counter(status for status, _ in results)
    assert set(counts) <= {201, 409}, counts
    events = events_of(app, component["id"])
    flag_events = [e for e in events if e.action in ("hold", "release")]
    assert len(flag_events) == counts[201]
    # Holds and releases alternate: no two threads acted on the same status.
    assert [e.action for e in flag_events] == \
        ["hold", "release"] * (len(flag_events) // 2) + ["hold"] * (len(flag_events) % 2)
    with app.app_context():
        stored = db.session.get(Component, component["id"])
        assert stored.on_hold == (len(flag_events) % 2 == 1)
        assert stored.version == len(events)
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0


def test_concurrent_replays_of_one_client_event_id_make_one_event(world, app):
    component = world.component("planned")
    body = {"code": component["code"], "action": "cast", "client_event_id": "phone-9-000042"}
    results = race(world, [[body] for _ in range(THREADS)])
    counts = Counter(status for status, _ in results)
    assert counts == {201: 1, 200: THREADS - 1}, counts
    assert len({payload["event"]["id"] for _, payload in results}) == 1
    assert len(events_of(app, component["id"])) == 1


def test_racing_batches_over_the_same_components(world, app, runner):
    codes = [world.component("planned")["code"] for _ in range(20)]
    bodies = [[{"items": [{"code": code, "action": action,
                           "client_event_id": str(uuid.uuid4())}
                          for action in ("cast", "demould") for code in codes]}]
              for _ in range(4)]
    results = race(world, bodies, path="/api/v1/scans/batch")
    assert all(status == 200 for status, _ in results)
    accepted = sum(payload["accepted"] for _, payload in results)
    assert accepted == 40  # each code cast and demoulded exactly once
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0
