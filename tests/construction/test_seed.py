"""flask bench seed: the benchmark's data holds together as the scan path would leave it."""

from collections import Counter

from sqlalchemy import select

from construction.extensions import db
from construction.models import ProgressCounter
from construction.services.chain import verify_ledger
from construction.services.ledger import check_ledger
from construction.services.progress import recount
from construction.services.seed import seed


def _counts(kind: str) -> Counter:
    counts: Counter = Counter()
    for counter in db.session.scalars(select(ProgressCounter).where(ProgressCounter.kind == kind)):
        counts[(counter.project_id, counter.region_code, counter.state, counter.day)] += \
            counter.count
    return counts


def test_seeded_ledger_verifies_and_its_counters_equal_a_recount(app):
    with app.app_context():
        counts = seed(120, projects=3, chunk=50, checkpoint_every=400)
        assert counts["components"] == 120 and counts["checkpoints"] == counts["events"] // 400
        checked, breach = verify_ledger(workers=1)
        assert breach is None and checked == counts["events"]
        assert check_ledger() == (120, [])
        states = Counter({(key[1], key[2], key[3], key[4]): n
                          for key, n in recount(db.session).items()})
        assert Counter({(c.project_id, c.storey_id, c.component_type_id, c.state): c.count
                        for c in db.session.scalars(select(ProgressCounter).where(
                            ProgressCounter.kind == "state"))}) == states
        # The region's days are the projects' days added up.
        by_region: Counter = Counter()
        for (_, _, action, day), count in _counts("pday").items():
            by_region[(None, "330106", action, day)] += count
        assert _counts("rday") == by_region and sum(by_region.values()) == counts["events"]
