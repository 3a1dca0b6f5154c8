"""Views, pages and commands are thin: the services query, take the write lock and commit."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "construction"
THIN = sorted([*ROOT.glob("api/*.py"), ROOT / "pages.py", ROOT / "resolver.py",
               *ROOT.glob("cli*.py")])
# A query, a commit, or a hand on SQLite's write lock.
INFRASTRUCTURE = re.compile(
    r"db\.session\.(commit|execute|scalars?|get)\(|\bselect\(|mark_writing|write_lock")
# The health check probes the database itself.
ALLOWED = {("api/health.py", 'db.session.execute(text("SELECT 1"))')}


def test_views_pages_and_commands_leave_queries_and_commits_to_the_services():
    found = []
    for path in THIN:
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if INFRASTRUCTURE.search(line) and (name, line.strip()) not in ALLOWED:
                found.append(f"{name}:{number}: {line.strip()}")
    assert len(THIN) > 20
    assert found == []
