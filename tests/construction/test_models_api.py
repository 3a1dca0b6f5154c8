"""IFC model import (202, job, status, dry run, diff, removed_from_model, bad input), as built."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import ifcopenshell
import ifcopenshell.guid
import ifcopenshell.util.element as element_util
import pytest
from sqlalchemy import func, select

from bim.synthetic import Piece, build_model, precast_pieces
from construction.extensions import db
from construction.models import (
    BimModel,
    Building,
    Component,
    ComponentChange,
    ComponentType,
    Storey,
)
from construction.services.progress import recount
from tests.bim.test_model import corpus_file

PROJECT_GLOBAL_ID = "3" + "P" * 21  # versions of one model keep their IfcProject


@pytest.fixture(autouse=True)
def _files(app, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "files")


def _ifc(pieces: list[Piece], schema: str = "IFC2X3", storeys: int | None = None) -> bytes:
    storeys = storeys or max(piece.storey for piece in pieces) + 1
    return build_model(pieces, schema=schema, storeys=storeys,
                       project_global_id=PROJECT_GLOBAL_ID).to_string().encode()


def _post(world, data: bytes, name: str = "model.ifc", role: str = "project_manager",
          project: str = "main", query: str = ""):
    return world.client(role).post(
        f"/api/v1/projects/{world.ids['project_' + project]}/models{query}",
        data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def _components(app, project_id: int) -> dict[str, Component]:
    with app.app_context():
        rows = db.session.scalars(select(Component).where(Component.project_id == project_id))
        return {c.ifc_global_id: c for c in rows if c.ifc_global_id}


def _counters_agree(app) -> bool:
    from construction.models import ProgressCounter

    with app.app_context():
        stored = {(c.kind, c.project_id, c.storey_id, c.component_type_id, c.state, c.day,
                   c.region_code): c.count for c in db.session.scalars(select(ProgressCounter))
                  if c.count and c.kind in ("state", "pstate")}
        expected: Counter = Counter()
        for key, count in recount(db.session).items():
            _, project_id, _, type_id, state, _, _ = key
            expected[key] += count
            expected["pstate", project_id, None, type_id, state, None, None] += count
        return stored == {k: v for k, v in expected.items() if v}


def test_the_tekla_model_imports_as_its_cast_units(app, world):
    path = corpus_file("precast_tekla_carwash.ifc")
    response = _post(world, path.read_bytes(), path.name)
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    model = world.client("regulator").get(location).get_json()
    assert model["status"] == "done" and model["schema"] == "IFC2X3"
    assert model["authoring_application"].startswith("Tekla Structures")
    assert (model["added"], model["changed"], model["unchanged"], model["removed"]) == \
        (944, 0, 0, 0)
    assert model["skipped"] == 1051 - 944 + 1949 + 26 + 409 + 228 + 24
    assert [(s["name"], s["elements"]) for s in model["storeys"]] == [("Undefined", 944)]
    source = ifcopenshell.open(str(path))
    expected = {a.GlobalId: element_util.get_psets(a)["Tekla Assembly"]
                for a in source.by_type("IfcElementAssembly") if not a.Decomposes}
    stored = _components(app, world.ids["project_main"])
    assert set(stored) == set(expected)
    for global_id, component in stored.items():
        tekla = expected[global_id]
        assert component.mark == tekla["Assembly/Cast unit Mark"]
        weight = tekla["Assembly/Cast unit weight"]
        assert component.weight_kg == (round(weight, 1) if weight > 0 else None)
        assert component.ifc_class == "IfcElementAssembly" and component.state == "planned"
        assert component.bim_model_id == model["id"]
    assert Counter(c.mark for c in stored.values())["Z/9"] > 1
    assert _counters_agree(app)
    # The same file again is the same model: nothing changes.
    with app.app_context():
        before = db.session.execute(select(func.max(Component.updated_at),
                                           func.count(Component.id))).one()
    again = _post(world, path.read_bytes(), path.name)
    assert again.status_code == 200 and again.headers["Location"] == location
    with app.app_context():
        assert db.session.execute(select(func.max(Component.updated_at),
                                         func.count(Component.id))).one() == before
        assert db.session.scalar(select(func.count(BimModel.id))) == 1


def test_a_reimport_is_a_diff_and_never_deletes(app, world):
    pieces = precast_pieces(30, storeys=3)
    first = _post(world, _ifc(pieces)).get_json()
    assert (first["added"], first["status"]) == (30, "done")
    stored = _components(app, world.ids["project_main"])
    gone_with_history = stored[pieces[0].global_id]
    world.scan(gone_with_history.code, "cast", expect=201)
    changed = Piece(pieces[5].mark, storey=pieces[5].storey, weight_kg=9999.0,
                    global_id=pieces[5].global_id)
    new = Piece("N/1", storey=2, weight_kg=500.0, global_id="1" + "N" * 21)
    second_pieces = [changed if p is pieces[5] else p for p in pieces[2:]] + [new]
    second_file = _ifc(second_pieces)
    response = _post(world, second_file)
    second = response.get_json()
    assert response.status_code == 202 and second["status"] == "done"
    assert (second["added"], second["changed"], second["unchanged"], second["removed"]) == \
        (1, 1, 27, 2)
    differences = {d.get("global_id"): d for d in second["differences"]}
    assert differences[changed.global_id]["fields"] == {"weight_kg": [1500.0, 9999.0]}
    assert differences[new.global_id]["change"] == "added"
    after = _components(app, world.ids["project_main"])
    assert len(after) == 31  # nothing deleted
    assert after[pieces[0].global_id].removed_from_model is True
    assert after[pieces[0].global_id].state == "cast"  # its history stays
    assert after[pieces[1].global_id].removed_from_model is True
    assert after[changed.global_id].weight_kg == 9999.0
    assert after[changed.global_id].code == stored[changed.global_id].code  # same identity
    with app.app_context():
        recorded = db.session.scalars(select(ComponentChange).where(
            ComponentChange.component_id == after[changed.global_id].id)).all()
        assert [r.changes for r in recorded] == [{"weight_kg": [1500.0, 9999.0]}]
    # The component's own history says so.
    detail = world.client("regulator").get(
        f"/api/v1/components/{after[changed.global_id].id}").get_json()
    assert [c["changes"] for c in detail["model_changes"]] == [{"weight_kg": [1500.0, 9999.0]}]
    assert detail["model_changes"][0]["bim_model_id"] == second["id"]
    listed = world.client("regulator").get(
        f"/api/v1/components?project_id={world.ids['project_main']}&removed_from_model=true"
    ).get_json()
    assert {c["ifc_global_id"] for c in listed["items"]} == {pieces[0].global_id,
                                                             pieces[1].global_id}
    # Back in the model: back from removed, a change like any other.
    third = _post(world, _ifc(pieces)).get_json()
    assert (third["added"], third["changed"], third["removed"]) == (0, 3, 1)
    assert _components(app, world.ids["project_main"])[pieces[0].global_id] \
        .removed_from_model is False
    assert _counters_agree(app)
    # The second version's very file again, after the third: a return to it, applied again.
    again = _post(world, second_file)
    assert again.status_code == 202 and again.get_json()["id"] != second["id"]
    assert (again.get_json()["added"], again.get_json()["removed"]) == (0, 2)
    assert _components(app, world.ids["project_main"])[pieces[0].global_id] \
        .removed_from_model is True
    # Sent once more (a retry): the same model, nothing changes.
    retried = _post(world, second_file)
    assert retried.status_code == 200 and retried.get_json()["id"] == again.get_json()["id"]
    assert _counters_agree(app)
    # The newest version's file sent while another upload waits for its turn (a worker's
    # queue): that one may be a later version, so this is imported again after it.
    queued = _post(world, _ifc(second_pieces[1:])).get_json()
    with app.app_context():
        waiting = db.session.get(BimModel, queued["id"])
        waiting.status, waiting.ifc_project_global_id = "pending", None
        db.session.commit()
    behind = _post(world, second_file)
    assert behind.status_code == 202 and behind.get_json()["id"] > queued["id"]


def test_progress_by_ifc_class_for_a_project_with_a_model(app, world):
    pieces = [*precast_pieces(4, storeys=1),
              Piece("S/1", ifc_class="IfcSlab", global_id="1" + "S" * 21),
              Piece("S/2", ifc_class="IfcSlab", global_id="2" + "S" * 21)]
    assert _post(world, _ifc(pieces)).get_json()["added"] == 6
    world.component("cast")  # typed in, not from the model: no IFC class
    stored = _components(app, world.ids["project_main"])
    world.scan(stored[pieces[0].global_id].code, "cast", expect=201)
    world.scan(stored[pieces[4].global_id].code, "cast", expect=201)
    _post(world, _ifc(pieces[1:]))  # the first assembly leaves the model
    project = world.client("regulator").get(
        f"/api/v1/progress?project_id={world.ids['project_main']}").get_json()
    assert project["total"] == 7
    assert project["by_ifc_class"] == [
        {"ifc_class": "IfcElementAssembly", "total": 3, "by_state": {"planned": 3},
         "percent_by_state": {"planned": 100.0}},
        {"ifc_class": "IfcSlab", "total": 2, "by_state": {"cast": 1, "planned": 1},
         "percent_by_state": {"cast": 50.0, "planned": 50.0}}]
    region = world.client("regulator").get("/api/v1/progress").get_json()
    assert region["total"] == 7 and region["by_ifc_class"] == []
    elsewhere = world.client("far_regulator").get(
        f"/api/v1/progress?project_id={world.ids['project_main']}").get_json()
    assert elsewhere["total"] == 0 and elsewhere["by_ifc_class"] == []


def test_a_dry_run_reports_and_writes_nothing(app, world):
    response = _post(world, _ifc(precast_pieces(12, storeys=2), storeys=2),
                     query="?dry_run=true")
    model = response.get_json()
    assert response.status_code == 202 and model["dry_run"] is True
    assert (model["status"], model["added"]) == ("done", 12)
    assert model["differences"][0]["change"] == "added"
    assert {"change": "created", "component_types": 1, "storeys": 2} in model["differences"]
    assert _components(app, world.ids["project_main"]) == {}
    with app.app_context():
        assert db.session.scalar(select(func.count(Storey.id))) == 2  # the world's only
        assert db.session.scalar(select(func.count(ComponentType.id))) == 2


def test_storeys_buildings_and_types_are_created_once(app, world):
    _post(world, _ifc(precast_pieces(20, storeys=4), storeys=4))
    with app.app_context():
        names = db.session.scalars(select(Storey.name).order_by(Storey.elevation_m,
                                                                 Storey.name)).all()
        assert [n for n in names if n.startswith("F")] == ["F1", "F2", "F3", "F4"]
    stored = _components(app, world.ids["project_main"])
    assert len({c.storey_id for c in stored.values()}) == 4


def _storeys(app, project_id: int) -> dict[str, tuple]:
    """The project's storeys by GlobalId (by name when none): id, building, name, elevation."""
    with app.app_context():
        return {s.ifc_global_id or s.name: (s.id, s.building.name, s.name, s.elevation_m)
                for s in db.session.scalars(select(Storey).join(Building)
                                            .where(Building.project_id == project_id))}


def _levels(model) -> list:
    return sorted(model.by_type("IfcBuildingStorey"), key=lambda s: s.Elevation)


def _version(pieces: int, storeys: int, project_global_id: str = PROJECT_GLOBAL_ID):
    """A model to edit into its next versions (GlobalIds kept), with the pieces spread."""
    return build_model(precast_pieces(pieces, storeys=storeys), schema="IFC2X3",
                       storeys=storeys, project_global_id=project_global_id)


def test_a_storey_renamed_or_raised_in_the_next_version_stays_the_same_storey(app, world):
    project_id = world.ids["project_main"]
    pieces = precast_pieces(12, storeys=3)
    model = build_model(pieces, schema="IFC2X3", storeys=3, project_global_id=PROJECT_GLOBAL_ID)
    assert _post(world, model.to_string().encode()).get_json()["added"] == 12
    placed = {g: c.storey_id for g, c in _components(app, project_id).items()}
    before = _storeys(app, project_id)
    f1, f2, f3 = _levels(model)
    f1.Name, f2.Name = f2.Name, f1.Name  # a swap of two names
    f3.Name, f3.Elevation = "Roof", 6500.0
    building = model.by_type("IfcBuilding")[0]
    building.Name = "Block A"
    dry = _post(world, model.to_string().encode(), query="?dry_run=true").get_json()
    assert (dry["status"], dry["changed"], dry["unchanged"]) == ("done", 0, 12)
    assert _storeys(app, project_id) == before  # a dry run renames nothing
    second = _post(world, model.to_string().encode()).get_json()
    assert (second["status"], second["added"], second["changed"], second["unchanged"]) == \
        ("done", 0, 0, 12)
    assert {g: c.storey_id for g, c in _components(app, project_id).items()} == placed
    after = _storeys(app, project_id)
    assert after[f1.GlobalId] == (before[f1.GlobalId][0], "Block A", "F2", 0.0)
    assert after[f2.GlobalId] == (before[f2.GlobalId][0], "Block A", "F1", 3.0)
    assert after[f3.GlobalId] == (before[f3.GlobalId][0], "Block A", "Roof", 6.5)
    assert after["1F"][1:] == ("Block A", "1F", 0.0)  # the world's own storey moved with it
    spatial = [d for d in second["differences"] if "storey_id" in d or "building_id" in d]
    assert spatial == dry["differences"][:len(spatial)]
    assert {"change": "renamed", "building_id": after["1F"][0] and spatial[0]["building_id"],
            "global_id": building.GlobalId, "fields": {"name": ["B1", "Block A"]}} in spatial
    assert {"change": "renamed", "storey_id": before[f3.GlobalId][0],
            "global_id": f3.GlobalId,
            "fields": {"name": ["F3", "Roof"], "elevation_m": [6.0, 6.5]}} in spatial
    assert len(spatial) == 4 and not any(d["change"] == "created" for d in second["differences"])
    assert _counters_agree(app)


def test_a_second_storey_of_one_name_leaves_the_first_its_pieces(app, world):
    project_id = world.ids["project_main"]
    model = _version(6, 2)
    _levels(model)[0].Name = "Level 1"
    _post(world, model.to_string().encode())
    placed = {g: c.storey_id for g, c in _components(app, project_id).items()}
    _levels(model)[1].Name = "Level 1"  # the next version has two
    second = _post(world, model.to_string().encode()).get_json()
    assert (second["changed"], second["unchanged"]) == (0, 6)
    assert {g: c.storey_id for g, c in _components(app, project_id).items()} == placed
    names = {gid: row[2] for gid, row in _storeys(app, project_id).items()}
    low, high = _levels(model)
    assert (names[low.GlobalId], names[high.GlobalId]) == ("Level 1 (0 m)", "Level 1 (3 m)")


def test_models_of_one_building_share_its_storeys_and_a_rename_never_takes_a_name(app, world):
    project_id = world.ids["project_main"]
    structure = _version(4, 2)
    _post(world, structure.to_string().encode())
    facade = build_model([Piece("FA/1", storey=1, global_id="2" + "F" * 21)], schema="IFC2X3",
                         storeys=2, project_global_id="4" + "Q" * 21)  # its own GlobalIds
    shared = _post(world, facade.to_string().encode()).get_json()
    assert shared["status"] == "done"
    created = [d for d in shared["differences"] if d["change"] == "created"]
    assert not any("storeys" in d or "buildings" in d for d in created), created
    storeys = _storeys(app, project_id)
    facade_piece = _components(app, project_id)["2" + "F" * 21]
    assert facade_piece.storey_id == storeys[_levels(structure)[1].GlobalId][0]  # "F2"
    # The structure's F1 renamed onto the world's own "1F", made by hand: refused, reported.
    _levels(structure)[0].Name = "1F"
    third = _post(world, structure.to_string().encode()).get_json()
    assert third["status"] == "done" and third["unchanged"] == 4
    first_level = _levels(structure)[0].GlobalId
    assert {"change": "not_renamed", "storey_id": storeys[first_level][0],
            "global_id": first_level, "fields": {"name": ["F1", "1F"]},
            "reason": f"storey {storeys['1F'][0]} of the building is called so"} \
        in third["differences"]
    assert _storeys(app, project_id) == storeys


def _split(model, storey_name: str, building_name: str):
    """Move the storey of that name into a new IfcBuilding of the site; return it."""
    site, first = model.by_type("IfcSite")[0], model.by_type("IfcBuilding")[0]
    second = model.create_entity("IfcBuilding", GlobalId=ifcopenshell.guid.new(),
                                 OwnerHistory=first.OwnerHistory, Name=building_name)
    site.IsDecomposedBy[0].RelatedObjects = [*site.IsDecomposedBy[0].RelatedObjects, second]
    levels = first.IsDecomposedBy[0]
    moved = [s for s in levels.RelatedObjects if s.Name == storey_name]
    levels.RelatedObjects = [s for s in levels.RelatedObjects if s not in moved]
    model.create_entity("IfcRelAggregates", GlobalId=ifcopenshell.guid.new(),
                        OwnerHistory=first.OwnerHistory, RelatingObject=second,
                        RelatedObjects=moved)
    return second


def _spatial(answer: dict) -> list[dict]:
    return [d for d in answer["differences"] if "storey_id" in d or "building_id" in d
            or d["change"] == "created"]


def test_renames_refused_one_after_another_break_nothing(app, world):
    project_id = world.ids["project_main"]
    model = _version(6, 3)
    _post(world, model.to_string().encode())
    before = _storeys(app, project_id)
    f1, f2, _ = _levels(model)
    f1.Name, f2.Name = "1F", "F1"  # "1F" is the world's own: F1 keeps its name, so F2 too
    answer = _post(world, model.to_string().encode()).get_json()
    assert answer["status"] == "done", answer["reason"]
    assert [(d["change"], d["storey_id"], d["reason"]) for d in _spatial(answer)] == [
        ("not_renamed", before[f1.GlobalId][0], f"storey {before['1F'][0]} of the building "
                                                 "is called so"),
        ("not_renamed", before[f2.GlobalId][0], f"storey {before[f1.GlobalId][0]} of the "
                                                 "building is called so")]
    assert _storeys(app, project_id) == before


def test_a_storey_moved_to_a_new_building_the_dry_run_tells_as_it_is_done(app, world):
    project_id = world.ids["project_main"]
    model = _version(6, 2)
    _post(world, model.to_string().encode())
    before = _storeys(app, project_id)
    model.by_type("IfcBuilding")[0].Name = "Zeta"  # renamed, and a new building takes
    annex = _split(model, "F2", "B1")              # its old name, with the upper storey
    data = model.to_string().encode()
    dry = _post(world, data, query="?dry_run=true").get_json()
    real = _post(world, data).get_json()
    assert _spatial(dry) == _spatial(real)
    assert (real["status"], real["changed"], real["unchanged"]) == ("done", 0, 6)
    upper = _levels(model)[1].GlobalId
    assert _storeys(app, project_id)[upper] == (before[upper][0], "B1", "F2", 3.0)
    with app.app_context():
        buildings = {b.name: b.ifc_global_id for b in db.session.scalars(
            select(Building).where(Building.project_id == project_id))}
    assert buildings == {"Zeta": model.by_type("IfcBuilding")[0].GlobalId,
                         "B1": annex.GlobalId}
    assert _counters_agree(app)


def test_an_unnamed_building_and_a_storey_in_none_are_one_building(app, world):
    model = build_model(precast_pieces(4, storeys=2), schema="IFC2X3", storeys=2)
    site, building = model.by_type("IfcSite")[0], model.by_type("IfcBuilding")[0]
    building.Name = None  # read as "Building", the name a storey in no building is put in
    upper = _levels(model)[1]
    levels = building.IsDecomposedBy[0]
    levels.RelatedObjects = [s for s in levels.RelatedObjects if s != upper]
    site.IsDecomposedBy[0].RelatedObjects = [*site.IsDecomposedBy[0].RelatedObjects, upper]
    answer = _post(world, model.to_string().encode()).get_json()
    assert answer["status"] == "done", answer["reason"]
    assert {"change": "created", "buildings": 1, "storeys": 2, "component_types": 1} in \
        answer["differences"]


def test_classes_can_be_narrowed_per_import(app, world):
    path = corpus_file("duplex.ifc")
    model = _post(world, path.read_bytes(), path.name, query="?classes=IfcSlab,IfcStair").get_json()
    assert model["classes"] == ["IfcSlab", "IfcStair"] and model["added"] == 23
    refused = _post(world, path.read_bytes(), path.name, query="?classes=IfcNoSuch")
    assert refused.status_code == 422 and refused.get_json()["type"].endswith("model-invalid")


@pytest.mark.parametrize("name", ["revit_example.ifc", "duplex.ifc", "ifcopenhouse_ifc4.ifc"])
def test_every_corpus_model_imports(app, world, name):
    path = corpus_file(name)
    model = _post(world, path.read_bytes(), name).get_json()
    assert model["status"] == "done" and model["added"] > 0
    stored = _components(app, world.ids["project_main"])
    assert len(stored) == model["added"]
    assert {s["name"] for s in model["storeys"]} <= {
        s for (s,) in _storey_names(app)}


def _storey_names(app):
    with app.app_context():
        return db.session.execute(select(Storey.name)).all()


def _truncated() -> bytes:
    data = _ifc(precast_pieces(5))
    return data[: len(data) // 2]


def _duplicated() -> bytes:
    model = build_model(precast_pieces(3, storeys=1))
    assemblies = model.by_type("IfcElementAssembly")
    assemblies[1].GlobalId = assemblies[0].GlobalId
    return model.to_string().encode()


@pytest.mark.parametrize(("make", "name", "status", "reason"), [
    (lambda: b"just text", "model.ifc", 422, "not an IFC file"),
    (lambda: _ifc(precast_pieces(2)), "model.txt", 422, ".ifc or .ifczip"),
    (_truncated, "model.ifc", 422, "truncated"),
    (lambda: _ifc(precast_pieces(2)).replace(b"IFC2X3", b"IFC2X2", 1), "model.ifc", 422,
     "not supported"),
    (_duplicated, "model.ifc", 422, "more than once"),
    (lambda: b"PK\x03\x04broken", "model.ifczip", 422, "ifczip"),
])
def test_bad_input_is_model_invalid_and_writes_nothing(app, world, make, name, status, reason):
    response = _post(world, make(), name)
    problem = response.get_json()
    assert response.status_code == status, problem
    assert response.mimetype == "application/problem+json"
    assert problem["type"].endswith("/model-invalid") and reason in problem["reason"]
    assert _components(app, world.ids["project_main"]) == {}


def test_a_file_over_the_limit_is_refused(app, world):
    app.config["MODEL_MAX_BYTES"] = 1000
    response = _post(world, _ifc(precast_pieces(5)))
    assert response.status_code == 413
    assert response.get_json()["type"].endswith("/model-invalid")
    with app.app_context():
        assert db.session.scalar(select(func.count(BimModel.id))) == 0


def test_a_small_ifczip_of_a_model_over_the_limit_is_refused_unopened(app, world):
    data = _ifc(precast_pieces(5))
    app.config["MODEL_MAX_BYTES"] = len(data) * 3
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.ifc", data + b" " * (len(data) * 40))
    assert len(buffer.getvalue()) < app.config["MODEL_MAX_BYTES"]
    response = _post(world, buffer.getvalue(), name="model.ifczip")
    assert response.status_code == 413 and "unpacks to" in response.get_json()["detail"]
    with app.app_context():
        assert db.session.scalar(select(func.count(BimModel.id))) == 0


def test_who_may_import_and_read(app, world):
    data = _ifc(precast_pieces(3))
    assert _post(world, data, role="factory_worker").status_code == 403
    assert _post(world, data, role="other_manager").status_code == 404  # not their project
    location = _post(world, data).headers["Location"]
    assert world.client("regulator").get(location).status_code == 200
    assert world.client("far_regulator").get(location).status_code == 404
    assert world.client("far_regulator").get(location + "/as-built.ifc").status_code == 404
    assert world.client("site_supervisor").get(location + "/as-built.ifc").status_code == 200
    listed = world.client("factory_worker").get(
        f"/api/v1/projects/{world.ids['project_main']}/models").get_json()
    assert [m["id"] for m in listed["items"]] == [int(location.rsplit("/", 1)[1])]


def test_with_rq_the_request_only_queues(app, world, monkeypatch):
    from construction import jobs

    queued = []

    class Queue:
        def enqueue(self, function, *args, **kwargs):
            queued.append((function, args))

    monkeypatch.setattr(jobs, "redis_queue", lambda app: Queue())
    app.config["JOBS"] = "rq"
    response = _post(world, _ifc(precast_pieces(4)))
    assert response.status_code == 202 and response.get_json()["status"] == "pending"
    assert _components(app, world.ids["project_main"]) == {}
    function, args = queued[0]
    with app.app_context():
        function(*args)
    assert world.client("admin").get(response.headers["Location"]).get_json()["status"] == "done"
    assert len(_components(app, world.ids["project_main"])) == 4


def test_components_filter_by_ifc_global_id(app, world):
    pieces = precast_pieces(5)
    _post(world, _ifc(pieces))
    found = world.client("regulator").get(
        f"/api/v1/components?ifc_global_id={pieces[3].global_id}").get_json()
    assert [(c["ifc_global_id"], c["mark"], c["ifc_class"]) for c in found["items"]] == [
        (pieces[3].global_id, pieces[3].mark, "IfcElementAssembly")]
    bad = world.client("regulator").get("/api/v1/components?ifc_global_id=nope")
    assert bad.status_code == 422


def test_the_as_built_model_keeps_the_original_and_adds_the_trace(app, world, tmp_path):
    data = _ifc(precast_pieces(6))
    location = _post(world, data).headers["Location"]
    stored = _components(app, world.ids["project_main"])
    pieces = precast_pieces(6)
    for action in ("cast", "demould", "qc_pass"):
        world.scan(stored[pieces[0].global_id].code, action, expect=201)
    response = world.client("regulator").get(location + "/as-built.ifc")
    assert response.status_code == 200 and response.mimetype == "application/x-step"
    (tmp_path / "original.ifc").write_bytes(data)
    (tmp_path / "as-built.ifc").write_bytes(response.data)
    original = ifcopenshell.open(str(tmp_path / "original.ifc"))
    built = ifcopenshell.open(str(tmp_path / "as-built.ifc"))
    for entity in original:  # every original entity, same id, same attributes
        assert str(built.by_id(entity.id())) == str(entity)
    assert {e.GlobalId for e in built.by_type("IfcElementAssembly")} == \
        {e.GlobalId for e in original.by_type("IfcElementAssembly")}
    for element in built.by_type("IfcElementAssembly"):
        trace = element_util.get_psets(element)["Pset_PrefabTrace"]
        component = stored[element.GlobalId]
        assert trace["Code"] == component.code
        assert trace["LabelURL"].endswith(f"/c/{component.code}") and "s=" not in \
            trace["LabelURL"]
        assert trace["OnHold"] is False and trace["NCROpen"] is False
        if element.GlobalId == pieces[0].global_id:
            assert trace["State"] == "qc_passed" and trace["CastAt"] and trace["LastEventAt"]
        else:
            assert trace["State"] == "planned" and trace.get("CastAt") is None


def test_the_geometry_is_converted_once_and_served_as_glb(app, world, monkeypatch):
    from bim import geometry
    from bim.geometry import read_glb

    pieces = precast_pieces(4, storeys=2)
    data = build_model(pieces, schema="IFC2X3", storeys=2, geometry=True,
                       project_global_id=PROJECT_GLOBAL_ID).to_string().encode()
    model = _post(world, data).get_json()
    conversions = []
    real = geometry.convert
    monkeypatch.setattr(geometry, "convert",
                        lambda *args, **kwargs: conversions.append(1) or real(*args, **kwargs))
    for role in ("project_manager", "regulator", "site_supervisor"):
        response = world.client(role).get(f"/api/v1/models/{model['id']}/geometry")
        assert response.status_code == 200 and response.mimetype == "model/gltf-binary"
        document, _ = read_glb(response.data)
        assert {node["name"] for node in document["nodes"]} == {p.global_id for p in pieces}
    # The inline import job converted it already; every answer came from storage.
    assert conversions == []
    with app.app_context():
        from construction.services.models import geometry_key
        from construction.storage import storage

        stored = db.session.get(BimModel, model["id"])
        assert storage().exists(geometry_key(stored))
    # Converted on demand when missing (a model imported before the converter).
    with app.app_context():
        key = geometry_key(db.session.get(BimModel, model["id"]))
    (Path(app.config["PHOTO_DIR"]) / key).unlink()
    again = world.client("regulator").get(f"/api/v1/models/{model['id']}/geometry")
    assert again.status_code == 200 and conversions == [1]
    assert world.client("far_regulator").get(
        f"/api/v1/models/{model['id']}/geometry").status_code == 404


def test_the_geometry_of_a_model_not_imported_is_refused(app, world):
    failed = _post(world, _duplicated()).get_json()
    for part in ("geometry", "as-built.ifc"):
        response = world.client("project_manager").get(
            f"/api/v1/models/{failed['model_id']}/{part}")
        assert response.status_code == 409, part
        assert response.get_json()["type"].endswith("model-not-ready")
        assert "GlobalIds" in response.get_json()["detail"]


def test_a_model_named_in_chinese_downloads_under_its_name(app, world):
    location = _post(world, _ifc(precast_pieces(2)), name="洗车房模型.ifc").headers["Location"]
    response = world.client("regulator").get(f"{location}/as-built.ifc")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("ascii")  # what every WSGI server can send
    assert disposition.startswith("attachment; filename=")
    assert "filename*=UTF-8''%E6%B4%97%E8%BD%A6%E6%88%BF%E6%A8%A1%E5%9E%8B-as-built.ifc" in \
        disposition
    assert response.headers["Cache-Control"] == "private, no-store"


def test_with_rq_the_geometry_is_converted_by_a_worker_once(app, world, monkeypatch):
    from construction import jobs
    from construction.services.models import geometry_key

    data = build_model(precast_pieces(3, storeys=1), geometry=True,
                       project_global_id=PROJECT_GLOBAL_ID).to_string().encode()
    model = _post(world, data).get_json()
    with app.app_context():
        key = geometry_key(db.session.get(BimModel, model["id"]))
    (Path(app.config["PHOTO_DIR"]) / key).unlink()  # as for a model imported before
    queued = {}

    class Job:
        def get_status(self, refresh=True):
            return "queued"

    class Queue:
        def fetch_job(self, job_id):
            return Job() if job_id in queued else None

        def enqueue(self, function, *args, job_id=None, **kwargs):
            queued[job_id] = (function, args)

    monkeypatch.setattr(jobs, "redis_queue", lambda app: Queue())
    app.config["JOBS"] = "rq"
    url = f"/api/v1/models/{model['id']}/geometry"
    for _ in range(2):  # a page polling: one job
        waiting = world.client("regulator").get(url)
        assert waiting.status_code == 202 and waiting.headers["Retry-After"] == "5"
        assert waiting.get_json() == {"status": "converting"}
    assert list(queued) == [f"geometry-{model['content_hash']}"]
    function, args = queued.popitem()[1]
    with app.app_context():
        function(*args)
    done = world.client("regulator").get(url)
    assert done.status_code == 200 and done.mimetype == "model/gltf-binary"


def test_a_geometry_failure_leaves_the_import_done(app, world, monkeypatch):
    from bim import geometry

    def broken(*args, **kwargs):
        raise RuntimeError("no shape")

    monkeypatch.setattr(geometry, "convert", broken)
    model = _post(world, _ifc(precast_pieces(3, storeys=1))).get_json()
    assert model["status"] == "done" and model["added"] == 3


def test_the_model_states_are_the_projects_pieces_as_columns_in_one_answer(app, world):
    location = _post(world, _ifc(precast_pieces(6))).headers["Location"]
    project_id = world.ids["project_main"]
    with app.app_context():
        held = db.session.scalars(select(Component).where(
            Component.project_id == project_id, Component.ifc_global_id.isnot(None))
            .order_by(Component.id)).first()
        held.on_hold = True
        db.session.commit()
    states = world.client("regulator").get(location + "/states")
    assert states.status_code == 200
    body = states.get_json()
    listed = [item for item in world.client("regulator").get(
        f"/api/v1/components?project_id={project_id}&per_page=500").get_json()["items"]
        if item["ifc_global_id"]]
    assert body["count"] == len(listed) == 6
    assert body["model_id"] == int(location.rsplit("/", 1)[1])
    assert body["project_id"] == project_id
    rows = list(zip(body["ids"], body["global_ids"], body["codes"], body["marks"],
                    body["states"], body["on_hold"], body["damaged"], body["ncr_open"],
                    strict=True))
    assert rows == [(c["id"], c["ifc_global_id"], c["code"], c["mark"], c["state"],
                     c["on_hold"], c["damaged"], c["ncr_open"])
                    for c in sorted(listed, key=lambda c: c["id"])]
    assert sum(body["on_hold"]) == 1
    assert world.client("far_regulator").get(location + "/states").status_code == 404
    assert world.client("regulator").get("/api/v1/models/999999/states").status_code == 404
