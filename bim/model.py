"""Read an IFC model into plain element records: which elements are components, and their facts.

What becomes a component: each element of an imported class (by default the
prefabricated kinds: assemblies, walls, slabs, beams, columns, stairs, members,
plates, footings and proxies) that is not part of another element of an imported
class, unless the model says it is cast in place. A Tekla cast unit is an
`IfcElementAssembly`: it is one component and its parts (and the embedded
sub-assemblies) are not. Every quantity is converted from the model's units.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import ifcopenshell
import ifcopenshell.util.element as element_util
import ifcopenshell.util.unit as unit_util

SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3")
DEFAULT_CLASSES = ("IfcElementAssembly", "IfcWall", "IfcSlab", "IfcBeam", "IfcColumn",
                   "IfcStair", "IfcMember", "IfcPlate", "IfcFooting", "IfcBuildingElementProxy")
# Component type categories the application knows, by IFC class (else "other").
CATEGORIES = {"IfcWall": "wall_panel", "IfcSlab": "slab", "IfcBeam": "beam",
              "IfcColumn": "column", "IfcStair": "stair"}

_HEADER_BYTES = 65536
# Beyond these an element's weight or volume is a typo: no precast piece is near them.
MAX_WEIGHT_KG = 1_000_000.0
MAX_VOLUME_M3 = 10_000.0
# What archivers add beside the file: macOS Finder's resource forks, folder entries.
_ZIP_NOISE = re.compile(r"(^|/)(__MACOSX/|\._)")
_SCHEMA_PATTERN = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([A-Za-z0-9_]+)'", re.IGNORECASE)
_END = b"END-ISO-10303-21;"
# Property names, lower case, in the order they are trusted (Tekla's first).
_MARK = ("assembly/cast unit mark",)
_WEIGHT = ("assembly/cast unit weight", "grossweight", "netweight", "weight", "mass")
_VOLUME = ("netvolume", "grossvolume", "volume", "assembly/cast unit volume")
_SEQUENCE = ("installsequence", "install sequence", "installationsequence",
             "erectionsequence", "erection sequence", "erection_sequence")
_GRID = ("assembly/cast unit position code", "gridcode", "grid code", "gridposition")
_IN_SITU = {"insitu", "in situ", "in-situ", "cast in place", "cast-in-place", "castinplace",
            "cast_in_place"}


class ModelInvalid(ValueError):
    """The file is not an IFC model this reader accepts; the message says why."""


# The building of an unnamed IfcBuilding, and of storeys in no IfcBuilding.
DEFAULT_BUILDING = "Building"


@dataclass(frozen=True)
class StoreyRecord:
    """A storey of the spatial structure, with the building it is in."""

    global_id: str | None
    building: str
    name: str
    elevation_m: float
    elements: int = 0
    building_global_id: str | None = None  # None: a storey in no IfcBuilding


@dataclass(frozen=True)
class ElementRecord:
    """One element that becomes a component, with what the model says of it."""

    global_id: str
    ifc_class: str
    mark: str
    name: str
    type_name: str
    category: str
    building: str | None
    storey: str | None
    elevation_m: float | None
    storey_global_id: str | None
    weight_kg: float | None
    volume_m3: float | None
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    install_sequence: int | None
    grid_code: str | None


@dataclass
class ModelReading:
    """What a model holds: its schema, authoring tool, storeys, elements and what was skipped."""

    schema: str
    application: str
    project_global_id: str | None
    elements: list[ElementRecord]
    storeys: list[StoreyRecord]
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def skipped_count(self) -> int:
        return sum(item["count"] for item in self.skipped)


def schema_family(schema: str) -> str | None:
    """Return IFC2X3, IFC4 or IFC4X3 for a schema identifier (IFC4X3_ADD2 is IFC4X3), else None."""
    upper = schema.upper()
    for family in sorted(SCHEMAS, key=len, reverse=True):
        if upper == family or upper.startswith(family + "_"):
            return family
    return None


class ModelTooLarge(ModelInvalid):
    """The IFC text (unpacked) is larger than allowed."""


def unpack(name: str, data: bytes, max_bytes: int | None = None) -> bytes:
    """Return the IFC text of an upload: the file itself, or the one .ifc inside an .ifczip.

    With `max_bytes`, an .ifczip whose .ifc unpacks to more is refused before it is
    unpacked (ModelTooLarge): a small archive of a huge file must not fill the memory.
    """
    if name.lower().endswith(".ifczip") or data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.infolist()
                           if m.filename.lower().endswith(".ifc") and not m.is_dir()
                           and not _ZIP_NOISE.search(m.filename)]
                if len(members) != 1:
                    raise ModelInvalid(f"an .ifczip holds exactly one .ifc file, this one "
                                       f"holds {len(members)}")
                if max_bytes is not None and members[0].file_size > max_bytes:
                    raise ModelTooLarge(f"its .ifc unpacks to {members[0].file_size:,} bytes, "
                                        f"more than the {max_bytes:,} allowed")
                # zipfile stops at the size the entry declares, whatever the data holds.
                return archive.read(members[0])
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
            raise ModelInvalid(f"not a readable .ifczip: {error}") from error
    return data


def sniff(text: bytes) -> str:
    """Check an IFC file's header and end without parsing it; return its schema family."""
    head = text[:_HEADER_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"ISO-10303-21;"):
        raise ModelInvalid("not an IFC file: it does not start with ISO-10303-21;")
    match = _SCHEMA_PATTERN.search(head)
    if match is None:
        raise ModelInvalid("the header names no FILE_SCHEMA")
    schema = match.group(1).decode("ascii")
    family = schema_family(schema)
    if family is None:
        raise ModelInvalid(f"the schema {schema} is not supported: send {', '.join(SCHEMAS)}")
    if not text[-256:].rstrip().endswith(_END):
        raise ModelInvalid("the file is truncated: it does not end with END-ISO-10303-21;")
    return family


def check_classes(schema: str, classes: Iterable[str]) -> list[str]:
    """Return the IFC class names of `classes` as the schema spells them; raise on unknown ones."""
    declarations = ifcopenshell.ifcopenshell_wrapper.schema_by_name(_schema_id(schema))
    found, unknown = [], []
    for name in classes:
        try:
            declaration = declarations.declaration_by_name(name)
        except RuntimeError:
            unknown.append(name)
            continue
        found.append(declaration.name())
    if unknown:
        raise ModelInvalid(f"no such classes in {schema}: {', '.join(unknown)}")
    return found


def _schema_id(schema: str) -> str:
    return "IFC4X3_ADD2" if schema_family(schema) == "IFC4X3" else schema_family(schema) or schema


def open_model(text: bytes) -> ifcopenshell.file:
    """Open an IFC file's text with IfcOpenShell (through a temporary file, read fastest).

    The header's schema is written as IfcOpenShell names the family's schema (IFC4X3 and
    IFC4X3_TC1 as IFC4X3_ADD2, IFC2X3_TC1 as IFC2X3, IFC4_ADD2_TC1 as IFC4): the same
    schema to every reader, which IfcOpenShell refuses under its other names. A byte-order
    mark is dropped.
    """
    start = 3 if text.startswith(b"\xef\xbb\xbf") else 0
    head = bytes(text[start:start + _HEADER_BYTES])
    match = _SCHEMA_PATTERN.search(head)
    if match is not None and schema_family(match.group(1).decode("ascii")) is not None:
        canonical = _schema_id(match.group(1).decode("ascii")).encode("ascii")
        head = head[:match.start(1)] + canonical + head[match.end(1):]
    handle, path = tempfile.mkstemp(suffix=".ifc")
    try:
        with os.fdopen(handle, "wb") as temporary:
            temporary.write(head)
            temporary.write(memoryview(text)[start + _HEADER_BYTES:])
        try:
            return ifcopenshell.open(path)
        except (ifcopenshell.Error, RuntimeError, ValueError) as error:
            raise ModelInvalid(f"IfcOpenShell cannot read the file: {error}") from error
    finally:
        os.unlink(path)


def read_model(name: str, data: bytes, classes: Iterable[str] | None = None,
               progress: Callable[[int, int], None] | None = None) -> ModelReading:
    """Read an .ifc or .ifczip upload into element records; raise ModelInvalid on bad input."""
    text = unpack(name, data)
    sniff(text)
    model = open_model(text)
    return read_open_model(model, classes, progress)


def read_open_model(model: ifcopenshell.file, classes: Iterable[str] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> ModelReading:
    """Read an opened model into element records (see the module's rules)."""
    schema = schema_family(model.schema)
    if schema is None:
        raise ModelInvalid(f"the schema {model.schema} is not supported")
    if not _by_type(model, "IfcProject"):
        raise ModelInvalid("the model has no IfcProject, which every IFC model has: its units "
                           "and structure are unknown")
    _refuse_duplicate_global_ids(model)
    wanted = check_classes(model.schema, classes or DEFAULT_CLASSES)
    units = _Units(model)
    candidates = {entity.id(): entity for cls in wanted for entity in _by_type(model, cls)}
    skipped: Counter[tuple[str, str]] = Counter()
    chosen = []
    for entity in sorted(candidates.values(), key=lambda e: e.id()):
        if _whole_of(entity, candidates) is not None:
            skipped["part_of_element", entity.is_a()] += 1
        else:
            chosen.append(entity)
    for entity in model.by_type("IfcElement"):
        if entity.id() not in candidates and not entity.is_a("IfcFeatureElement") \
                and not entity.is_a("IfcVirtualElement"):
            reason = "part_of_element" if _whole_of(entity, candidates) is not None \
                else "class_not_imported"
            skipped[reason, entity.is_a()] += 1
    spatial = _Spatial(units, model)
    records = []
    for index, entity in enumerate(chosen):
        properties = _properties(entity)
        if _cast_in_place(properties):
            skipped["cast_in_place", entity.is_a()] += 1
        else:
            records.append(_record(entity, properties, units, spatial))
        if progress is not None:
            progress(index + 1, len(chosen))
    return ModelReading(
        schema=schema, application=_application(model),
        project_global_id=next((p.GlobalId for p in model.by_type("IfcProject")), None),
        elements=records, storeys=spatial.storeys(model, records),
        skipped=[{"reason": reason, "ifc_class": cls, "count": count}
                 for (reason, cls), count in sorted(skipped.items())])


def _by_type(model: ifcopenshell.file, cls: str) -> list:
    try:
        return model.by_type(cls)
    except RuntimeError:  # a class of another schema version: the model has none
        return []


def _refuse_duplicate_global_ids(model: ifcopenshell.file) -> None:
    # Elements and the spatial structure are told apart by GlobalId; a property set or a
    # relation repeated by an exporter harms nothing that is imported.
    counts = Counter(entity.GlobalId for entity in model.by_type("IfcProduct"))
    repeated = [global_id for global_id, count in counts.items() if count > 1]
    if repeated:
        shown = ", ".join(sorted(str(g) for g in repeated)[:5])
        raise ModelInvalid(f"{len(repeated)} GlobalIds are used more than once (e.g. {shown}): "
                           "elements could not be told apart")


def _whole_of(entity, candidates: dict[int, Any]):
    """Return the outermost element of an imported class this element is a part of, or None."""
    whole = None
    seen = set()
    current = entity
    while True:
        parent = next((rel.RelatingObject for rel in getattr(current, "Decomposes", ()) or ()
                       if rel.RelatingObject.is_a("IfcElement")), None)
        if parent is None or parent.id() in seen:
            return whole
        seen.add(parent.id())
        if parent.id() in candidates:
            whole = parent
        current = parent


def _properties(entity) -> dict[str, Any]:
    """Every property and quantity of an element (and its type), by lower-case name, first wins."""
    flat: dict[str, Any] = {}
    for values in element_util.get_psets(entity).values():
        for name, value in values.items():
            if name != "id":
                flat.setdefault(name.lower(), value)
    return flat


def _first(properties: dict[str, Any], names: tuple[str, ...], kind: type | tuple) -> Any:
    for name in names:
        value = properties.get(name)
        if isinstance(value, kind) and not isinstance(value, bool) and value != "":
            return value
    return None


def _cast_in_place(properties: dict[str, Any]) -> bool:
    method = properties.get("castingmethod")
    if isinstance(method, str) and method.strip().lower() in _IN_SITU:
        return True
    unit_type = properties.get("cast unit type")
    return isinstance(unit_type, str) and unit_type.strip().lower() in _IN_SITU


class _Units:
    """The model's units as factors to kilograms, cubic metres and millimetres."""

    def __init__(self, model: ifcopenshell.file):
        self.metre = unit_util.calculate_unit_scale(model, "LENGTHUNIT")
        # A model that declares no mass unit means kilograms; the scale is to grams.
        declared = unit_util.get_project_unit(model, "MASSUNIT")
        self.kilogram = unit_util.calculate_unit_scale(model, "MASSUNIT") / 1000 \
            if declared is not None else 1.0
        self.cubic_metre = unit_util.calculate_unit_scale(model, "VOLUMEUNIT")

    def millimetres(self, value: float | None) -> int | None:
        if value is None or value <= 0:
            return None
        return round(value * self.metre * 1000)


def _record(entity, properties: dict[str, Any], units: _Units, spatial: _Spatial) -> ElementRecord:
    name = (entity.Name or "").strip()
    mark = _first(properties, _MARK, str) or (entity.Tag or "").strip() or name \
        or entity.GlobalId
    element_type = element_util.get_type(entity)
    type_name = (element_type.Name if element_type is not None and element_type.Name else None) \
        or (getattr(entity, "ObjectType", None) or "").strip() \
        or " ".join(filter(None, (entity.is_a(), name)))
    building, storey = spatial.place(entity)
    weight = _first(properties, _WEIGHT, (int, float))
    volume = _first(properties, _VOLUME, (int, float))
    sequence = _first(properties, _SEQUENCE, int)
    grid = _first(properties, _GRID, str)
    return ElementRecord(
        global_id=entity.GlobalId, ifc_class=entity.is_a(), mark=mark.strip()[:60],
        name=name[:200], type_name=type_name.strip()[:100], category=_category(entity),
        building=building, storey=storey.name if storey else None,
        elevation_m=storey.elevation_m if storey else None,
        storey_global_id=storey.global_id if storey else None,
        weight_kg=_plausible(weight, units.kilogram, MAX_WEIGHT_KG, 1),
        volume_m3=_plausible(volume, units.cubic_metre, MAX_VOLUME_M3, 4),
        length_mm=units.millimetres(_first(properties, ("length",), (int, float))),
        width_mm=units.millimetres(_first(properties, ("width",), (int, float))),
        height_mm=units.millimetres(_first(properties, ("height",), (int, float))),
        install_sequence=sequence if sequence is not None and 0 <= sequence < 2**31 else None,
        grid_code=grid.strip()[:40] if grid else None)


def _category(entity) -> str:
    for cls, category in CATEGORIES.items():
        if entity.is_a(cls):
            return category
    return "other"


def _plausible(value: float | None, unit: float, limit: float, digits: int) -> float | None:
    """A positive quantity in SI units, rounded; None when absent, not positive, not finite or
    beyond `limit` (a typo in the model, which no precast piece weighs or holds)."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    converted = round(value * unit, digits)
    return converted if 0 < converted <= limit else None


def _label(entity, fallback: str) -> str:
    return ((entity.Name or "").strip() or (getattr(entity, "LongName", None) or "").strip()
            or fallback)[:100]


class _Spatial:
    """Where elements are: building and storey from the spatial structure, elevations in metres."""

    def __init__(self, units: _Units, model: ifcopenshell.file):
        self.units = units
        self.found: dict[int, StoreyRecord] = {}
        # Buildings and storeys are named, and a name is what the project keys them by: two
        # of one name (two unnamed buildings, two storeys called "Level 1") would be merged.
        # Such names are told apart here, once, before any element is placed.
        self.building_names = _distinct(
            (b.id(), _label(b, DEFAULT_BUILDING), str(i + 1))
            for i, b in enumerate(sorted(_by_type(model, "IfcBuilding"), key=lambda b: b.id())))
        self.storey_names: dict[int, str] = {}
        by_building: dict[str | None, list] = defaultdict(list)
        for storey in sorted(_by_type(model, "IfcBuildingStorey"), key=lambda s: s.id()):
            by_building[self._building_of(storey)].append(storey)
        for storeys in by_building.values():
            self.storey_names.update(_distinct(
                (s.id(), _label(s, "Storey"), f"{self._elevation(s):g} m") for s in storeys))

    def place(self, entity) -> tuple[str | None, StoreyRecord | None]:
        """The building and storey an element is in (either may be None)."""
        container, current = None, entity
        for _ in range(32):  # an element aggregated into another is where its whole is
            container = element_util.get_container(current)
            if container is not None:
                break
            parent = next((rel.RelatingObject for rel in getattr(current, "Decomposes", ())
                           or ()), None)
            if parent is None:
                break
            current = parent
        if container is None:
            return None, None
        if not container.is_a("IfcBuildingStorey"):  # a space is on the storey it is part of
            container = element_util.get_container(current, ifc_class="IfcBuildingStorey") \
                or container
        if container.is_a("IfcBuildingStorey"):
            storey = self._storey(container)
            return storey.building, storey
        return self._building_of(container), None

    def _elevation(self, storey) -> float:
        return round((storey.Elevation or 0.0) * self.units.metre, 3) + 0.0  # no -0.0

    def _storey(self, container) -> StoreyRecord:
        storey = self.found.get(container.id())
        if storey is None:
            building = self._building_entity(container)
            storey = self.found[container.id()] = StoreyRecord(
                global_id=container.GlobalId,
                building=self.building_names[building.id()] if building else DEFAULT_BUILDING,
                name=self.storey_names[container.id()],
                elevation_m=self._elevation(container),
                building_global_id=building.GlobalId if building else None)
        return storey

    def _building_of(self, spatial) -> str | None:
        building = self._building_entity(spatial)
        if building is not None:
            return self.building_names[building.id()]
        return DEFAULT_BUILDING if spatial.is_a("IfcBuildingStorey") else None

    @staticmethod
    def _building_entity(spatial):
        current = spatial
        for _ in range(32):
            if current.is_a("IfcBuilding"):
                return current
            current = next((rel.RelatingObject for rel in getattr(current, "Decomposes", ())
                            or ()), None)
            if current is None:
                return None
        return None

    def storeys(self, model: ifcopenshell.file, records: list[ElementRecord]) -> list[StoreyRecord]:
        """Every storey of the model, with how many of the elements are on it."""
        for container in model.by_type("IfcBuildingStorey"):
            self._storey(container)
        counts = Counter((r.building, r.storey) for r in records)
        return sorted((replace(s, elements=counts[s.building, s.name])
                       for s in self.found.values()),
                      key=lambda s: (s.building, s.elevation_m, s.name))


def _distinct(named) -> dict[int, str]:
    """Name each (id, name, tell) uniquely: a name shared by several gets its `tell` added
    ("Level 1 (3 m)"), and a number as well if that is shared too."""
    named = list(named)
    counts = Counter(name for _, name, _ in named)
    names = {key: name if counts[name] == 1 else suffixed(name, f" ({tell})")
             for key, name, tell in named}
    taken: Counter[str] = Counter()
    total = Counter(names.values())
    for key, name in names.items():
        if total[name] > 1:
            taken[name] += 1
            names[key] = suffixed(name, f" #{taken[name]}")
    return names


def suffixed(name: str, suffix: str, limit: int = 100) -> str:
    """The name with the suffix, shortened so that the suffix always fits in `limit`."""
    return name[:limit - len(suffix)] + suffix


def _application(model: ifcopenshell.file) -> str:
    applications = model.by_type("IfcApplication")
    if applications:
        app = applications[0]
        text = " ".join(filter(None, ((app.ApplicationFullName or "").strip(),
                                      (app.Version or "").strip())))
        if text:
            return text[:200]
    try:
        return (model.header.file_name.originating_system or "")[:200]
    except (AttributeError, RuntimeError):
        return ""
