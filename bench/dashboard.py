"""Dashboard benchmark: a 20,000-component project's data, the old way and the summary.

    .venv/bin/python bench/dashboard.py [--components 20000] [--rounds 5]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard]

Seeds one project in bulk (services.seed.seed_project: four buildings of 30 storeys,
pieces in states along the lifecycle, about 1 % on hold, 0.5 % damaged, 1 % with an
NCR open) into a new SQLite file and, with --database-url, into that PostgreSQL
database too (EMPTIED first). Then, through the test client as the project manager
(server side: routing, queries, serialisation), in the same run:

- baseline: the old dashboard's grid, the project's components 500 at a time
  (`GET /components?project_id=…&per_page=500&page=N`, 40 requests for 20,000);
- the new dashboard: `GET /projects` and `GET /projects/{id}/summary`;
- on demand: one storey's components in one state, and the first page of `on_hold=true`;
- the model page's pieces: `GET /models/{id}/states` (every piece's state as columns),
  against the same baseline (the model page read the 40 pages before);
- the storey × state counts read from the progress counters against a GROUP BY over
  the project's component rows (the other way to count them).

Each figure is the median of `--rounds` rounds. Target: the new dashboard in at most
3 requests and 500 ms in all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402


def _timed(function, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def _requests(client, paths: list[str]) -> list:
    answers = []
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        answers.append(response)
    return answers


def empty_database_with_member(url: str, kind, role) -> tuple:
    """Empty the app's database (PostgreSQL: its schema), migrate it and add one
    organization of `kind` with one user of `role`; return them and the user's token.
    Runs in the app's context."""
    import flask_migrate

    from construction.extensions import db
    from construction.models import Organization, User
    from construction.services.accounts import issue_token

    if url.startswith("postgresql"):
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    flask_migrate.upgrade()
    organization = Organization(name=f"Bench {kind.value}", kind=kind, region_code="330110")
    db.session.add(organization)
    db.session.flush()
    user = User(name=f"bench-{role.value}", organization=organization, role=role)
    db.session.add(user)
    db.session.commit()
    return organization, user, issue_token(user.id, name="bench")[1]


def measure(url: str, components: int, rounds: int) -> list[tuple[str, int, float]]:
    """Seed the project into the database at `url`; return (case, requests, ms) rows."""

    from app import create_app
    from construction.extensions import db
    from construction.models import (
        BimModel,
        Component,
        OrganizationKind,
        ProgressCounter,
        Role,
    )
    from construction.services.seed import seed_project

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False,
                      "TOKEN_CACHE_SECONDS": 5, "LEDGER_CHECKPOINT_EXPORT": ""})
    with app.app_context():
        maker, manager, token = empty_database_with_member(
            url, OrganizationKind.manufacturer, Role.project_manager)
        start = time.perf_counter()
        project_id = seed_project(components, [maker.id])
        seeded_ms = (time.perf_counter() - start) * 1000
        model = BimModel(project_id=project_id, content_hash="0" * 64,
                         storage_key="models/none.ifc", original_name="scale.ifc",
                         size_bytes=1, schema="IFC4", status="done",
                         uploaded_by_user_id=manager.id)
        db.session.add(model)
        db.session.commit()
        model_id = model.id
        if url.startswith("postgresql"):
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        storey_id, state = db.session.execute(
            select(Component.storey_id, Component.state)
            .where(Component.project_id == project_id).order_by(Component.id).limit(1)).one()

        counter = ProgressCounter
        from_counters = select(counter.storey_id, counter.state, func.sum(counter.count)) \
            .where(counter.kind == "state", counter.project_id == project_id) \
            .group_by(counter.storey_id, counter.state)
        from_rows = select(Component.storey_id, Component.state, func.count()) \
            .where(Component.project_id == project_id) \
            .group_by(Component.storey_id, Component.state)
        counters_ms, counted = _timed(lambda: db.session.execute(from_counters).all(), rounds)
        rows_ms, grouped = _timed(lambda: db.session.execute(from_rows).all(), rounds)
        assert {(s, st): int(n) for s, st, n in counted if n} == \
            {(s, st): n for s, st, n in grouped}
        db.session.remove()

    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    pages = -(-components // 500)
    old = [f"/api/v1/components?project_id={project_id}&per_page=500&page={number}"
           for number in range(1, pages + 1)]
    new = ["/api/v1/projects", f"/api/v1/projects/{project_id}/summary"]
    storey = [f"/api/v1/components?project_id={project_id}&storey_id={storey_id}"
              f"&state={state}&per_page=500"]
    held = [f"/api/v1/components?project_id={project_id}&on_hold=true&per_page=50"]
    _requests(client, new)  # warm: the first request builds the API's schemas
    old_ms, answers = _timed(lambda: _requests(client, old), rounds)
    assert sum(len(a.get_json()["items"]) for a in answers) == components
    new_ms, answers = _timed(lambda: _requests(client, new), rounds)
    assert answers[1].get_json()["total"] == components
    storey_ms, _ = _timed(lambda: _requests(client, storey), rounds)
    held_ms, _ = _timed(lambda: _requests(client, held), rounds)
    summary_bytes = len(answers[1].data)
    states = [f"/api/v1/models/{model_id}/states"]
    states_ms, states_answers = _timed(lambda: _requests(client, states), rounds)
    assert states_answers[0].get_json()["count"] == components
    states_bytes = len(states_answers[0].data)
    with app.app_context():
        db.engine.dispose()
    return [
        (f"seed {components:,} components (bulk insert, counters)", 0, seeded_ms),
        (f"baseline: every component, 500 a page ({pages} pages)", len(old), old_ms),
        (f"new: projects + summary ({summary_bytes / 1024:.0f} KiB)", len(new), new_ms),
        ("on demand: one storey's components in one state", 1, storey_ms),
        ("on demand: first 50 on hold (on_hold=true)", 1, held_ms),
        (f"model page: every piece's state as columns ({states_bytes / 1024:.0f} KiB)", 1,
         states_ms),
        ("storey x state from the progress counters (query)", 0, counters_ms),
        ("storey x state by GROUP BY over the component rows (query)", 0, rows_ms),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to measure too (it is emptied)")
    args = parser.parse_args()
    os.environ.setdefault("LABEL_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-key.pem")
    os.environ.setdefault("LEDGER_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-ledger-key.pem")
    folder = tempfile.mkdtemp(prefix="bench-dashboard-")
    databases = [("SQLite", f"sqlite:///{folder}/dashboard.db")]
    if args.database_url:
        databases.append(("PostgreSQL", args.database_url))
    print(f"| database | case | requests | ms (median of {args.rounds}) |")
    print("| --- | --- | --- | --- |")
    for name, url in databases:
        rows = measure(url, args.components, args.rounds)
        for case, requests, ms in rows:
            print(f"| {name} | {case} | {requests or '–'} | {ms:,.1f} |", flush=True)
        baseline, new = rows[1][2], rows[2][2]
        print(f"| {name} | new against baseline | {rows[2][1]} vs {rows[1][1]} | "
              f"{baseline / new:,.1f}x faster |", flush=True)
        print(f"| {name} | model page against baseline | {rows[5][1]} vs {rows[1][1]} | "
              f"{baseline / rows[5][2]:,.1f}x faster |", flush=True)


if __name__ == "__main__":
    main()
