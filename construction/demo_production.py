"""The demo's production records: moulds, checklists, pours with strength growth, inspections.

Strength grows as steam-cured precast concrete does: about 60 % of its 28-day
strength after a day, 85 % after seven; each pour's 28-day strength scatters
around 1.18 x f_cu,k. A few pours are weak, one has its stripping strength
overridden by QC on a rebound test, and a few pieces fail an inspection first.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

from construction.extensions import db
from construction.models import Component, ComponentType, Mould
from construction.permissions import Principal
from construction.services import production
from construction.services.inspections import record_inspection

# Stripping: at least 15 MPa before lifting out of the mould (GB/T 51231-2016, 9.6.x);
# delivery: 75 % of the grade unless the design asks more.
STRIPPING_MPA = 15.0
DELIVERY_PERCENT = 75.0
# Steam curing: 2 h resting, 2 h heating to 55 °C, 6 h constant, 3 h cooling.
STEAM_PROFILE = [{"hours": hours, "temperature_c": celsius}
                 for hours, celsius in ((0, 20), (2, 20), (4, 55), (10, 55), (13, 25))]
MOULDS = [("M-01", "mould"), ("M-02", "mould"), ("M-03", "mould"), ("M-04", "mould"),
          ("B-01", "bed"), ("B-02", "bed")]


def _item(key, text_en, text_zh, kind, category, tolerance=None, nominal=None):
    item = {"key": key, "text_en": text_en, "text_zh": text_zh, "kind": kind,
            "category": category}
    if kind == "measured":
        item.update(tolerance=tolerance, unit="mm")
        if nominal is not None:
            item["nominal"] = nominal
    return item


CHECKLISTS = {
    "pre_pour": [
        _item("rebar", "Reinforcement: grade, number, spacing as drawn",
              "钢筋牌号、数量、间距符合图纸", "pass_fail", "reinforcement"),
        _item("embedded", "Embedded parts and sleeves placed and fixed",
              "预埋件、灌浆套筒位置及固定", "pass_fail", "embedded_parts"),
        _item("cover", "Concrete cover (design 20 mm)", "保护层厚度（设计 20 mm）",
              "measured", "cover", tolerance=5, nominal=20),
        _item("mould_clean", "Mould clean, release agent applied", "模具清理、涂刷隔离剂",
              "pass_fail", "mould"),
    ],
    "post_demould": [
        _item("length", "Length deviation", "长度偏差", "measured", "dimension", tolerance=5),
        _item("width", "Width deviation", "宽度偏差", "measured", "dimension", tolerance=5),
        _item("surface", "Surface: no honeycombing, cracks or exposed bars",
              "外观：无蜂窝、裂缝、露筋", "pass_fail", "surface"),
    ],
    "pre_delivery": [
        _item("label", "Label readable, certificate attached", "标识清晰、合格证随车",
              "pass_fail", "record"),
        _item("photo", "Photo of the piece on the truck with its label",
              "装车照片（含标签）", "photo", "record"),
    ],
    "site_acceptance": [
        _item("appearance", "No transport damage", "无运输损伤", "pass_fail", "damage"),
        _item("sleeves", "Grout sleeves clear", "灌浆套筒通畅", "pass_fail", "embedded_parts"),
    ],
}


def set_up(principals: dict[str, Principal], types: list[ComponentType],
           manufacturer_id: int) -> None:
    """Give the demo's types their strengths and checklists, and the plant its moulds."""
    for name, kind in MOULDS:
        db.session.add(Mould(organization_id=manufacturer_id, name=name, kind=kind))
    for component_type in types:
        component_type.stripping_strength_mpa = STRIPPING_MPA
        component_type.delivery_strength_percent = DELIVERY_PERCENT
    db.session.commit()
    for component_type in types:
        for stage in ("pre_pour", "post_demould", "pre_delivery"):
            production.save_checklist(principals["qc_inspector"], component_type.id,
                                      {"stage": stage, "items": CHECKLISTS[stage]})


def _answers(stage: str, rng: random.Random, fail: bool = False) -> list[dict]:
    answers = []
    for item in CHECKLISTS[stage]:
        if item["kind"] == "measured":
            deviation = rng.uniform(-3.5, 3.5)
            if fail and item["key"] in ("cover", "length"):
                deviation = 7.0
            value = item.get("nominal", 0) + round(deviation, 1)
            answers.append({"key": item["key"], "value": value})
        else:
            answers.append({"key": item["key"], "passed": not (fail and item["key"] == "surface")})
    return answers


def inspect(principal: Principal, components: list[Component], stage: str, when: datetime,
            rng: random.Random, failing: int = 0) -> None:
    """Record an inspection of each component at a stage; the first `failing` fail first."""
    for index, component in enumerate(components):
        if index < failing:
            record_inspection(principal, component.id, {
                "stage": stage, "results": _answers(stage, rng, fail=True),
                "inspected_at": when})
        record_inspection(principal, component.id, {
            "stage": stage, "results": _answers(stage, rng), "inspected_at": when})


def _test(principal: Principal, pour_id: int, cast_at: datetime, f28: float, age: int,
          growth: float, rng: random.Random) -> None:
    production.add_strength_result(principal, pour_id, {
        "specimen": {1: "S1", 7: "S2", 28: "S3"}[age], "age_days": age,
        "tested_at": cast_at + timedelta(days=age),
        "strength_mpa": round(f28 * growth * rng.gauss(1, 0.03), 1),
        "laboratory": "厂内试验室 plant laboratory",
        "report_number": f"QT-{pour_id:04d}-{age:02d}"})


def pour_and_test(principals: dict[str, Principal], components: list[Component],
                  when: datetime, rng: random.Random,
                  demo_end: datetime) -> list[tuple[int, datetime, float]]:
    """Cast the components in pours (by type and storey) and record their strength tests.

    Return the pours whose later results are late (pour, cast time, 28-day strength):
    their stripping gate is overridden, and `late_results` records the rest.
    """
    groups: dict[tuple, list[Component]] = defaultdict(list)
    for component in components:
        groups[(component.component_type_id, component.storey_id)].append(component)
    late: list[tuple[int, datetime, float]] = []
    qc = principals["qc_inspector"]
    for number, members in enumerate(groups.values()):
        grade = members[0].component_type.concrete_grade
        f_cu_k = production.characteristic_strength(grade)
        cast_at = when + timedelta(minutes=30 * number)
        pour = production.create_pour(principals["factory_worker"], {
            "mould": MOULDS[number % len(MOULDS)][0], "concrete_grade": grade,
            "cast_at": cast_at, "component_ids": [c.id for c in members],
            "mix": f"{grade}-P{rng.randint(1, 3)}",
            "supplier_ticket": f"HN-{rng.randint(100_000, 999_999)}",
            "slump_mm": rng.randint(140, 200), "concrete_temperature_c": rng.randint(18, 26),
            "air_temperature_c": rng.randint(12, 28), "curing_method": "steam",
            "curing_profile": STEAM_PROFILE,
            "specimens": [{"id": f"S{i}", "size_mm": 150, "test_ages_days": [1, 7, 28]}
                          for i in (1, 2, 3)]})
        weak = number % 17 == 5  # a weak batch now and then
        f28 = f_cu_k * (rng.gauss(0.98, 0.03) if weak else rng.gauss(1.18, 0.05))
        if number == 3:  # a cold night: the 1-day cube is weak, later tests come late
            _test(qc, pour.id, cast_at, f28, 1, 0.38, rng)
            late.append((pour.id, cast_at, f28))
            for component in members:
                production.override_gate(qc, component.id, {
                    "gate": "stripping_strength",
                    "reason": "同条件试块回弹 16.2 MPa rebound test on a site-cured cube"})
            continue
        for age, growth in ((1, 0.6), (7, 0.85), (28, 1.0)):
            if cast_at + timedelta(days=age) <= demo_end:
                _test(qc, pour.id, cast_at, f28, age, growth, rng)
    return late


def late_results(principal: Principal, late: list[tuple[int, datetime, float]],
                 rng: random.Random) -> None:
    """Record the 7- and 28-day results of the pours whose tests came late."""
    for pour_id, cast_at, f28 in late:
        for age, growth in ((7, 0.85), (28, 1.0)):
            _test(principal, pour_id, cast_at, f28, age, growth, rng)
