"""What answering through the response schemas costs the capture path, beside the old answer.

    .venv/bin/python bench/response_dump.py [--rounds 7]

Times, in one process and interleaved, the bodies of a single scan (ScanResult) and of a
500-item batch (BatchResult) turned into JSON text three ways: (a) as the views answered
before, the service's dicts encoded as they are (the baseline); (b) dumped by
marshmallow's generic Schema.dump, then encoded; (c) dumped by the precompiled dump the
schemas use (construction/schemas/precompiled.py, the same answer), then encoded. The best of each
round's repeats is kept, so other work on the machine moves the figures less.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marshmallow import Schema  # noqa: E402

from construction.schemas import BatchResultSchema, ScanResultSchema  # noqa: E402

EVENT = {"id": 7, "component_id": 3, "action": "cast", "from_state": "planned",
         "to_state": "cast", "user": "user-admin", "organization_id": 1, "device": None,
         "client_event_id": "phone-1-0001", "client_time": "2026-11-25T10:00:00+08:00",
         "server_time": "2026-11-25T02:00:01.123456+00:00",
         "location": {"latitude": 30.2, "longitude": 120.1}, "data": None,
         "corrects_event_id": None, "biz_step": "commissioning", "disposition": "active"}
COMPONENT = {"id": 3, "code": "ABC123XYZ", "state": "cast", "on_hold": False, "damaged": False,
             "ncr_open": False, "allowed_actions": ["demould", "hold", "report_damage", "scrap"]}


def _encode(body) -> str:
    # Flask's JSON provider: compact separators, no sorting (JSON_SORT_KEYS is off).
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    args = parser.parse_args()
    scan, batch = ScanResultSchema(), BatchResultSchema()
    one = {"event": EVENT, "component": COMPONENT}
    many = {"accepted": 500, "duplicate": 0, "rejected": 0, "results": [
        {"index": i, "outcome": "accepted", "client_event_id": f"phone-1-{i:04d}",
         "event": {**EVENT, "id": i}, "component": COMPONENT} for i in range(500)]}
    assert scan.dump(one) == Schema.dump(scan, one) == one
    assert batch.dump(many) == Schema.dump(batch, many) == many
    cases = {
        "single scan": (2000, {
            "(a) as before": lambda: _encode(one),
            "(b) marshmallow": lambda: _encode(Schema.dump(scan, one)),
            "(c) precompiled": lambda: _encode(scan.dump(one))}),
        "batch of 500": (5, {
            "(a) as before": lambda: _encode(many),
            "(b) marshmallow": lambda: _encode(Schema.dump(batch, many)),
            "(c) precompiled": lambda: _encode(batch.dump(many))}),
    }
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for case, (number, ways) in cases.items():
            for way, function in ways.items():
                seconds = min(timeit.repeat(function, number=number, repeat=3)) / number
                best[case, way] = min(best.get((case, way), seconds), seconds)
    print(f"{'body':14} {'answer':18} {'us per answer':>14} {'x (a)':>7} {'us per event':>13}")
    print("-" * 70)
    for case, (_, ways) in cases.items():
        events = 500 if case == "batch of 500" else 1
        baseline = best[case, "(a) as before"] * 1e6
        for way in ways:
            micros = best[case, way] * 1e6
            print(f"{case:14} {way:18} {micros:14,.1f} {micros / baseline:7.2f} "
                  f"{micros / events:13,.1f}")


if __name__ == "__main__":
    main()
