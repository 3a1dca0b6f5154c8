"""The demo's trucks: loads planned in erection order and scanned once per truck."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy import update

from construction.extensions import db
from construction.models import Component, Load
from construction.permissions import Principal
from construction.services.load_plans import propose_load_plan
from construction.services.loads import TIMESTAMP_OF, LoadScanRequest, record_load_scan

# A flatbed for precast: 30 t payload, 13 m deck.
TRUCK = {"max_weight_kg": 30_000.0, "max_length_mm": 13_000, "trailer_type": "低平板 flatbed"}
VEHICLES = ("浙A·D3812", "浙A·F6027", "浙A·K1195", "浙B·C7730", "浙A·H5402")
DRIVERS = ("王建国 Wang Jianguo", "李强 Li Qiang", "陈伟 Chen Wei", "赵磊 Zhao Lei")
# The truck's part of the route, in order, with the role that scans the load label.
TRIP = (("load", "factory_worker"), ("depart", "factory_worker"), ("arrive", "site_supervisor"),
        ("accept_delivery", "site_supervisor"))


def plan_trucks(principals: dict[str, Principal], project_id: int,
                component_ids: list[int], rng: random.Random) -> list[Load]:
    """Plan and create the loads that carry these components, in erection order."""
    if not component_ids:
        return []
    planned = propose_load_plan(principals["project_manager"], project_id, {
        "component_ids": component_ids, "accept": True, **TRUCK,
        "vehicle": rng.choice(VEHICLES)})
    loads = [db.session.get(Load, view["id"]) for view in planned["loads"]]
    for load in loads:
        load.vehicle, load.driver = rng.choice(VEHICLES), rng.choice(DRIVERS)
    db.session.commit()
    return loads


def scan_trucks(principals: dict[str, Principal], loads: list[Load], action: str,
                when: datetime, rng: random.Random, spread_minutes: int = 600) -> None:
    """Scan each load's label once with `action` in the hours after `when`: every piece on
    it moves."""
    role = dict(TRIP)[action]
    for load in loads:
        scanned_at = when + timedelta(minutes=rng.randint(0, spread_minutes))
        # All or nothing: a refusing piece raises, and the demo stops on it.
        record_load_scan(principals[role], load, LoadScanRequest(
            action=action, client_event_id=str(uuid.uuid4()), device="demo-handheld-02",
            client_time=scanned_at))
        # The demo replays months of trips in one run; a trip's times are its scans' times,
        # as they are for a truck scanned on the day (the server's clock then), so that
        # today's trucks and the deliveries per day show today's and each day's.
        db.session.execute(update(Load).where(Load.id == load.id).values(
            {TIMESTAMP_OF[action]: scanned_at}))
        db.session.commit()


def trucks_for_today(principals: dict[str, Principal], project_id: int,
                     waiting: list[Component], now: datetime, rng: random.Random) -> None:
    """Put the yard's next pieces on today's trucks: one on the road, the others planned."""
    if not waiting:
        return
    # The first two trucks of the plan, in erection order.
    proposal = propose_load_plan(principals["project_manager"], project_id, {
        "component_ids": [c.id for c in waiting], **TRUCK})["loads"][:2]
    loads = plan_trucks(principals, project_id,
                        [i for truck in proposal for i in truck["component_ids"]], rng)
    for number, load in enumerate(loads):
        load.planned_departure_at = now + timedelta(hours=number * 2 - 1)
        load.planned_arrival_at = load.planned_departure_at + timedelta(hours=2)
    db.session.commit()
    if loads:
        first = loads[:1]
        scan_trucks(principals, first, "load", now - timedelta(hours=3), rng, 30)
        scan_trucks(principals, first, "depart", now - timedelta(hours=2), rng, 30)
