"""A model's buildings and storeys matched to the project's, before its elements are placed.

Each is found by the GlobalId of its IfcBuilding or IfcBuildingStorey first, so a storey
renamed, raised or moved to another building in the model's next version is the same
storey, with its components, counters and history. Failing that, by name (a storey within
its building): one made by hand, or shared by another model of the same building
(structure and facade), is used as it is, and takes the model's GlobalId if it has none.
Only then is one created, and only for a storey that has elements.

One found by GlobalId follows the model: its name, elevation and building. A rename onto
a name that another building or storey keeps is not made and is reported (`not_renamed`);
renames among the model's own (a swap of two names) go through. A new one whose name is
kept by another gets a number (`F1 #2`). The same rules run in a dry run, which writes
nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bim.model import DEFAULT_BUILDING, StoreyRecord, suffixed
from construction.extensions import db
from construction.models import Building, Storey


@dataclass(eq=False)
class _Slot:
    """A building or storey of the project as the import leaves it: an existing row or
    one to create. `parent` is a storey's building (a slot); buildings have none."""

    kind: str
    row: Building | Storey | None
    name: str
    parent: _Slot | None = None
    global_id: str | None = None  # the model's, for one created or adopted here
    follows: bool = False  # found by GlobalId or adopted: takes the model's name and place
    wanted: tuple[_Slot | None, str] | None = None
    elevation_m: float | None = None

    @property
    def place(self) -> tuple[_Slot | None, str]:
        return self.parent, self.name


@dataclass(frozen=True)
class _Item:
    """A building or storey of the model."""

    key: Any
    global_id: str | None
    name: str
    parent: _Slot | None
    elevation_m: float | None = None


class ModelStoreys:
    """The project's storeys for a model's: ids (or, in a dry run, placeholders)."""

    def __init__(self, project_id: int, write: bool, records: list[StoreyRecord]):
        self.project_id, self.write = project_id, write
        self.created: Counter[str] = Counter()
        self.differences: list[dict[str, Any]] = []
        buildings = {b.id: _Slot("building", b, b.name) for b in db.session.scalars(
            select(Building).where(Building.project_id == project_id).order_by(Building.id))}
        storeys = [_Slot("storey", s, s.name, buildings[s.building_id],
                         elevation_m=float(s.elevation_m or 0.0))
                   for s in db.session.scalars(
                       select(Storey).join(Building).where(Building.project_id == project_id)
                       .order_by(Storey.id))]
        known = {s.row.ifc_global_id for s in storeys if s.row.ifc_global_id}
        # Storeys without elements are left alone, unless the project has them already.
        records = [r for r in records if r.elements or r.global_id in known]
        # Storeys in no IfcBuilding are in the reader's "Building": one of the model's
        # buildings if it is called so.
        named = {r.building: r.building_global_id for r in records if r.building_global_id}

        def building(record: StoreyRecord) -> _Item:
            global_id = record.building_global_id or named.get(record.building)
            return _Item(global_id or ("name", record.building), global_id, record.building,
                         None)

        building_slots = list(buildings.values())
        by_building = self._claim([building(r) for r in records], building_slots)
        self.by_key = self._claim(
            [_Item(r.global_id or (r.building, r.name), r.global_id, r.name,
                   by_building[building(r).key], r.elevation_m) for r in records], storeys)
        self._settle(building_slots)
        self._settle(storeys)
        if write:
            self._write(building_slots)
            self._write(storeys)

    def storey_id(self, global_id: str | None, building: str | None, name: str | None):
        """The storey of an element read from the model (None: on no storey)."""
        if name is None:
            return None
        slot = self.by_key[global_id or (building or DEFAULT_BUILDING, name)]
        if slot.row is not None and slot.row.id is not None:
            return slot.row.id
        return ("new storey", slot.parent.name, slot.name)

    def _claim(self, items: list[_Item], slots: list[_Slot]) -> dict[Any, _Slot]:
        """Each item's slot: by GlobalId, else by name in its parent, else a new one."""
        by_global_id = {s.row.ifc_global_id: s for s in slots if s.row.ifc_global_id}
        found: dict[Any, _Slot] = {}
        for item in items:
            slot = by_global_id.get(item.global_id) if item.global_id else None
            if slot is not None and item.key not in found:
                found[item.key] = slot
                self._follow(slot, item)
        taken = set(found.values())
        for item in items:
            if item.key in found:
                continue
            slot = next((s for s in slots if s not in taken and s.parent is item.parent
                         and s.name == item.name), None)
            if slot is None:
                slot = _Slot("building" if item.parent is None else "storey", None, item.name,
                             item.parent, item.global_id, elevation_m=item.elevation_m)
                slots.append(slot)
            elif slot.row.ifc_global_id is None and item.global_id:
                slot.global_id = item.global_id  # adopted: it follows the model from now on
                self._follow(slot, item)
            found[item.key] = slot
            taken.add(slot)
        return found

    @staticmethod
    def _follow(slot: _Slot, item: _Item) -> None:
        slot.follows, slot.wanted = True, (item.parent, item.name)
        if item.elevation_m is not None:
            slot.elevation_m = item.elevation_m

    def _settle(self, slots: list[_Slot]) -> None:
        """Decide the renames and moves, and the names of new slots; report them."""
        moving = [s for s in slots if s.row is not None and s.follows and s.wanted != s.place]
        refused: dict[_Slot, _Slot] = {}  # a rename not made -> who keeps the name
        while True:  # a refusal keeps a name, which may refuse another rename: again
            kept = {s.place: s for s in slots
                    if s.row is not None and (s not in moving or s in refused)}
            targets: dict[tuple, _Slot] = {}
            for slot in moving:
                if slot in refused:
                    continue
                holder = kept.get(slot.wanted) or targets.get(slot.wanted)
                if holder is not None:
                    refused[slot] = holder
                    break
                targets[slot.wanted] = slot
            else:
                break
        for slot in slots:
            if slot.row is None:
                continue
            fields = {}
            if slot in moving:
                parent, name = slot.wanted
                if name != slot.name:
                    fields["name"] = [slot.name, name]
                if parent is not slot.parent:
                    fields["building"] = [slot.parent.name, parent.name]
            if slot in refused:
                holder = refused[slot]
                where = " of the building" if holder.kind == "storey" else ""
                self._note("not_renamed", slot, fields,
                           reason=f"{holder.kind} {holder.row.id}{where} is called so")
                fields = {}
            elif slot in moving:
                slot.parent, slot.name = slot.wanted
            elevation = float(slot.row.elevation_m or 0.0) if slot.kind == "storey" else None
            if slot.follows and elevation is not None and slot.elevation_m != elevation:
                fields["elevation_m"] = [elevation, slot.elevation_m]
            if fields:
                self._note("renamed" if "name" in fields else "changed", slot, fields)
        places = {s.place for s in slots if s.row is not None}
        for slot in slots:
            if slot.row is None:
                self.created[f"{slot.kind}s"] += 1
                wanted, number = slot.name, 1
                while slot.place in places:  # only a refused rename can have kept it
                    number += 1
                    slot.name = suffixed(wanted, f" #{number}")
                places.add(slot.place)

    def _note(self, change: str, slot: _Slot, fields: dict, **extra) -> None:
        self.differences.append({"change": change, f"{slot.kind}_id": slot.row.id,
                                 "global_id": slot.global_id or slot.row.ifc_global_id,
                                 "fields": fields, **extra})

    def _write(self, slots: list[_Slot]) -> None:
        """Write what `_settle` decided: renames in two steps (a swap breaks no uniqueness
        on the way), then new rows."""
        existing = [s for s in slots if s.row is not None]
        renamed = [s for s in existing if (s.name, s.parent and s.parent.row.id)
                   != (s.row.name, getattr(s.row, "building_id", None))]
        for slot in renamed:
            slot.row.name = f"~renaming~{slot.row.id}"
        db.session.flush()
        for slot in existing:
            slot.row.name = slot.name
            if slot.parent is not None:
                slot.row.building_id = slot.parent.row.id
            if slot.global_id and slot.row.ifc_global_id is None:
                slot.row.ifc_global_id = slot.global_id
            if slot.follows and slot.kind == "storey":
                slot.row.elevation_m = slot.elevation_m
        for slot in slots:
            if slot.row is None:
                if slot.kind == "building":
                    slot.row = Building(project_id=self.project_id, name=slot.name,
                                        ifc_global_id=slot.global_id)
                else:
                    slot.row = Storey(building_id=slot.parent.row.id, name=slot.name,
                                      elevation_m=slot.elevation_m or 0.0,
                                      ifc_global_id=slot.global_id)
                db.session.add(slot.row)
        db.session.flush()


