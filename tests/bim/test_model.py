"""Reading IFC models: every corpus model, checked against what IfcOpenShell reads directly."""

from __future__ import annotations

import io
import os
import zipfile
from collections import Counter
from pathlib import Path

import ifcopenshell
import ifcopenshell.guid
import ifcopenshell.util.element as element_util
import pytest

from bim.model import DEFAULT_CLASSES, ModelInvalid, ModelTooLarge, read_model, sniff, unpack
from bim.synthetic import Piece, build_model, precast_pieces

CORPUS = Path(os.environ.get("IFC_CORPUS", "/work/shared/corpus/ifc"))
MODELS = ("precast_tekla_carwash.ifc", "revit_example.ifc", "duplex.ifc", "ifcopenhouse_ifc4.ifc")


def corpus_file(name: str) -> Path:
    """Return a corpus model's path, or skip when the corpus is absent."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"the IFC corpus is not present ({path})")
    return path


def _expected(model: ifcopenshell.file) -> list:
    """The elements that should become components, found with IfcOpenShell alone."""
    candidates = {e.id(): e for cls in DEFAULT_CLASSES for e in model.by_type(cls)}

    def inside_candidate(entity) -> bool:
        for rel in entity.Decomposes or ():
            parent = rel.RelatingObject
            if parent.is_a("IfcElement") and (parent.id() in candidates
                                              or inside_candidate(parent)):
                return True
        return False
    return [e for e in candidates.values() if not inside_candidate(e)]


@pytest.mark.parametrize("name", MODELS)
def test_each_corpus_model_reads_as_ifcopenshell_sees_it(name):
    path = corpus_file(name)
    model = ifcopenshell.open(str(path))
    reading = read_model(name, path.read_bytes())
    expected = _expected(model)
    assert reading.schema == model.schema
    assert Counter(r.ifc_class for r in reading.elements) == Counter(e.is_a() for e in expected)
    by_id = {r.global_id: r for r in reading.elements}
    assert len(by_id) == len(reading.elements)
    for entity in expected:
        record = by_id[entity.GlobalId]
        psets = element_util.get_psets(entity)
        mark = psets.get("Tekla Assembly", {}).get("Assembly/Cast unit Mark") \
            or entity.Tag or entity.Name or entity.GlobalId
        assert record.mark == mark.strip()
        container = element_util.get_container(entity)
        if container is not None and container.is_a("IfcBuildingStorey"):
            assert record.storey == (container.Name or "Storey")
            assert record.elevation_m == pytest.approx(
                (container.Elevation or 0) * ifcopenshell.util.unit.calculate_unit_scale(model),
                abs=1e-3)
    storeys = {s.GlobalId for s in model.by_type("IfcBuildingStorey")}
    assert {s.global_id for s in reading.storeys} == storeys
    assert sum(s.elements for s in reading.storeys) == sum(1 for r in reading.elements
                                                           if r.storey is not None)


def test_the_tekla_model_has_its_cast_units_marks_and_weights():
    path = corpus_file("precast_tekla_carwash.ifc")
    model = ifcopenshell.open(str(path))
    reading = read_model(path.name, path.read_bytes())
    assert reading.application.startswith("Tekla Structures")
    # 1,051 assemblies, of which 107 are embedded in another (cast-in items, pads): parts.
    assemblies = model.by_type("IfcElementAssembly")
    outer = [a for a in assemblies if not a.Decomposes]
    assert len(assemblies) == 1051 and len(reading.elements) == len(outer) == 944
    skipped = {(s["reason"], s["ifc_class"]): s["count"] for s in reading.skipped}
    assert skipped["part_of_element", "IfcElementAssembly"] == 107
    assert skipped["part_of_element", "IfcBeam"] == len(model.by_type("IfcBeam"))
    marks = Counter(r.mark for r in reading.elements)
    assert marks["Z/9"] > 1  # marks repeat: interchangeable pieces
    tekla = {a.GlobalId: element_util.get_psets(a)["Tekla Assembly"] for a in outer}
    for record in reading.elements:
        weight = tekla[record.global_id]["Assembly/Cast unit weight"]  # the model is in kg
        assert record.weight_kg == (round(weight, 1) if weight > 0 else None)
        assert record.grid_code == (tekla[record.global_id]
                                    ["Assembly/Cast unit position code"] or None)
    heaviest = max(reading.elements, key=lambda r: r.weight_kg or 0)
    assert heaviest.weight_kg == pytest.approx(16806.6)
    assert [(s.building, s.name) for s in reading.storeys] == [("Undefined", "Undefined")]


def test_the_duplex_has_four_storeys_in_metres_and_volumes():
    path = corpus_file("duplex.ifc")
    reading = read_model(path.name, path.read_bytes())
    assert [(s.name, s.elevation_m) for s in reading.storeys] == [
        ("T/FDN", -1.25), ("Level 1", 0.0), ("Level 2", 3.1), ("Roof", 6.0)]
    skipped = {(s["reason"], s["ifc_class"]) for s in reading.skipped}
    assert ("part_of_element", "IfcStairFlight") in skipped  # the stair is the piece
    assert ("class_not_imported", "IfcWindow") in skipped
    walls = [r for r in reading.elements if r.ifc_class == "IfcWallStandardCase"]
    assert all(r.category == "wall_panel" for r in walls)
    assert any(r.volume_m3 for r in walls)


def test_millimetre_models_convert_storey_elevations():
    path = corpus_file("revit_example.ifc")
    reading = read_model(path.name, path.read_bytes())
    assert [(s.name, s.elevation_m) for s in reading.storeys] == [("Level 1", 0.0),
                                                                  ("Level 2", 3.14)]


def test_classes_can_be_narrowed_and_parts_then_count():
    path = corpus_file("precast_tekla_carwash.ifc")
    reading = read_model(path.name, path.read_bytes(), classes=["IfcColumn"])
    assert len(reading.elements) == 26  # outside any imported class: its own piece
    with pytest.raises(ModelInvalid, match="no such classes"):
        read_model(path.name, path.read_bytes(), classes=["IfcNoSuchThing"])


def test_an_ifczip_reads_like_its_ifc():
    path = corpus_file("ifcopenhouse_ifc4.ifc")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("house.ifc", path.read_bytes())
    zipped = read_model("house.ifczip", buffer.getvalue())
    plain = read_model(path.name, path.read_bytes())
    assert zipped.elements == plain.elements


def _small_model(schema: str = "IFC4", casting: str | None = None,
                 duplicate: bool = False) -> bytes:
    pieces = [Piece("W0", ifc_class="IfcWall", casting=casting), Piece("W1", ifc_class="IfcWall")]
    model = build_model(pieces, schema=schema, storeys=2)
    if duplicate:
        walls = model.by_type("IfcWall")
        walls[1].GlobalId = walls[0].GlobalId
    return model.to_string().encode()


def test_a_cast_in_place_element_is_skipped():
    reading = read_model("m.ifc", _small_model(casting="INSITU"))
    assert [r.mark for r in reading.elements] == ["W1"]
    assert {"reason": "cast_in_place", "ifc_class": "IfcWall", "count": 1} in reading.skipped
    assert reading.storeys[1].elevation_m == 3.0 and reading.storeys[0].building == "B1"
    precast = read_model("m.ifc", _small_model(casting="PRECAST"))
    assert len(precast.elements) == 2


@pytest.mark.parametrize(("data", "reason"), [
    (b"hello world", "not an IFC file"),
    (b"ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC2X2_FINAL'));\nENDSEC;\n", "not supported"),
    (b"ISO-10303-21;\nHEADER;\nENDSEC;\n", "no FILE_SCHEMA"),
])
def test_bad_headers_are_refused_without_parsing(data, reason):
    with pytest.raises(ModelInvalid, match=reason):
        sniff(data)


def test_a_truncated_model_is_refused():
    data = _small_model()
    with pytest.raises(ModelInvalid, match="truncated"):
        read_model("m.ifc", data[: len(data) * 2 // 3])


def test_duplicate_global_ids_are_refused():
    with pytest.raises(ModelInvalid, match="used more than once"):
        read_model("m.ifc", _small_model(duplicate=True))


def test_a_broken_ifczip_is_refused():
    with pytest.raises(ModelInvalid, match="ifczip"):
        read_model("m.ifczip", b"PK\x03\x04garbage")


def test_ifc2x3_and_ifc4x3_models_read():
    for schema in ("IFC2X3", "IFC4X3_ADD2"):
        reading = read_model("m.ifc", _small_model(schema=schema))
        assert len(reading.elements) == 2


def test_a_synthetic_precast_model_reads_its_marks_and_weights():
    pieces = precast_pieces(30, storeys=3)
    reading = read_model("m.ifc", build_model(pieces, schema="IFC2X3", storeys=3)
                         .to_string().encode())
    assert [(r.global_id, r.mark, r.weight_kg) for r in reading.elements] == [
        (p.global_id, p.mark, p.weight_kg) for p in pieces]
    assert [s.elements for s in reading.storeys] == [10, 10, 10]
    assert reading.application == "PrefabTrace synthetic 1"


@pytest.mark.parametrize(("header", "family"), [
    ("IFC4X3", "IFC4X3"), ("IFC4X3_TC1", "IFC4X3"), ("IFC2X3_TC1", "IFC2X3"),
    ("IFC4_ADD2_TC1", "IFC4")])
def test_other_names_of_a_schema_read_as_its_family(header, family):
    base = {"IFC4X3": "IFC4X3_ADD2", "IFC2X3": "IFC2X3", "IFC4": "IFC4"}[family]
    data = _small_model(schema=base).replace(f"FILE_SCHEMA(('{base}'))".encode(),
                                             f"FILE_SCHEMA(('{header}'))".encode())
    assert header.encode() in data
    for text in (data, b"\xef\xbb\xbf" + data):  # with a byte-order mark too
        reading = read_model("m.ifc", text)
        assert reading.schema == family and len(reading.elements) == 2


def test_a_model_without_ifcproject_is_refused_by_name():
    model = ifcopenshell.file(schema="IFC4")
    model.create_entity("IfcWall", GlobalId=ifcopenshell.guid.new(), Name="W")
    with pytest.raises(ModelInvalid, match="no IfcProject"):
        read_model("m.ifc", model.to_string().encode())


def test_a_repeated_property_set_id_is_harmless_but_repeated_elements_are_not():
    model = build_model([Piece("W0", ifc_class="IfcWall", weight_kg=5e12),
                         Piece("W1", ifc_class="IfcWall", weight_kg=4200)], storeys=1)
    sets = model.by_type("IfcPropertySet")
    sets[1].GlobalId = sets[0].GlobalId
    reading = read_model("m.ifc", model.to_string().encode())
    # A weight no precast piece has is a typo in the model: dropped, the element kept.
    assert [(r.mark, r.weight_kg) for r in reading.elements] == [("W0", None), ("W1", 4200.0)]


def test_an_element_in_a_space_is_on_the_space_s_storey():
    model = build_model([Piece("W0", ifc_class="IfcWall")], storeys=1)
    storey = model.by_type("IfcBuildingStorey")[0]
    wall = model.by_type("IfcWall")[0]
    space = model.create_entity("IfcSpace", GlobalId=ifcopenshell.guid.new(), Name="Room 1")
    model.create_entity("IfcRelAggregates", GlobalId=ifcopenshell.guid.new(),
                        RelatingObject=storey, RelatedObjects=[space])
    for rel in model.by_type("IfcRelContainedInSpatialStructure"):
        model.remove(rel)
    model.create_entity("IfcRelContainedInSpatialStructure", GlobalId=ifcopenshell.guid.new(),
                        RelatingStructure=space, RelatedElements=[wall])
    reading = read_model("m.ifc", model.to_string().encode())
    assert (reading.elements[0].building, reading.elements[0].storey) == (
        reading.storeys[0].building, reading.storeys[0].name)


def test_an_ifczip_from_macos_finder_and_a_small_zip_of_a_huge_model():
    data = _small_model()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("m.ifc", data)
        archive.writestr("__MACOSX/._m.ifc", b"\x00\x05\x16\x07 resource fork")
    assert len(read_model("m.ifczip", buffer.getvalue()).elements) == 2
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("m.ifc", data + b" " * 20_000_000)
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(ModelTooLarge, match="unpacks to"):
        unpack("m.ifczip", bomb.getvalue(), max_bytes=10_000_000)


def test_storeys_and_buildings_of_one_name_are_told_apart():
    model = build_model([Piece(f"W{i}", storey=i % 2, ifc_class="IfcWall") for i in range(10)],
                        storeys=2)
    for storey in model.by_type("IfcBuildingStorey"):
        storey.Name = "Level 1"
    second = model.create_entity("IfcBuilding", GlobalId=ifcopenshell.guid.new(),
                                 Name=model.by_type("IfcBuilding")[0].Name)
    model.create_entity("IfcRelAggregates", GlobalId=ifcopenshell.guid.new(),
                        RelatingObject=model.by_type("IfcSite")[0], RelatedObjects=[second])
    reading = read_model("m.ifc", model.to_string().encode())
    assert [(s.name, s.elevation_m, s.elements) for s in reading.storeys] == [
        ("Level 1 (0 m)", 0.0, 5), ("Level 1 (3 m)", 3.0, 5)]
    assert Counter(r.storey for r in reading.elements) == {"Level 1 (0 m)": 5,
                                                           "Level 1 (3 m)": 5}
    assert len({r.building for r in reading.elements}) == 1
    assert reading.storeys[0].building.endswith("(1)")
    # The longest names keep what tells them apart.
    for storey in model.by_type("IfcBuildingStorey"):
        storey.Name = "X" * 100
    reading = read_model("m.ifc", model.to_string().encode())
    assert [s.name[-7:] for s in reading.storeys] == ["X (0 m)", "X (3 m)"]
    assert {len(s.name) for s in reading.storeys} == {100}
