"""IFC models: accept a file, import it as components (a diff), export the as-built model.

An upload is checked cheaply (extension, size, header, end of file) and stored
by content hash before the 202 answer; the parsing runs as a job (inline or RQ).
An import is one transaction written in batches: new elements are inserted,
changed ones updated with a recorded change, elements gone from the model are
marked `removed_from_model` (never deleted), and the same file sent again to the
same project is the same model.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, or_, select, update

from bim import geometry
from bim.as_built import TRACE_PROPERTIES, write_as_built
from bim.model import (
    ElementRecord,
    ModelInvalid,
    ModelReading,
    ModelTooLarge,
    check_classes,
    open_model,
    read_model,
    sniff,
    unpack,
)
from construction import jobs
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import (
    BimModel,
    Component,
    ComponentChange,
    ComponentType,
    Event,
)
from construction.permissions import Principal, project_in_scope, readable_or_404, require
from construction.services.labels import identity_of
from construction.services.model_storeys import ModelStoreys
from construction.services.progress import bump, count_state_move
from construction.storage import storage
from labels.codes import new_code

EXTENSIONS = {".ifc": "application/x-step", ".ifczip": "application/zip"}
# Fields an import sets from the model, compared to tell changed from unchanged.
MODEL_FIELDS = ("mark", "component_type_id", "storey_id", "install_sequence", "weight_kg",
                "volume_m3", "grid_code", "ifc_class")
DIFFERENCES_SHOWN = 20


def _invalid(reason: str, status: int | None = None, **extra) -> ApiProblem:
    return ApiProblem("model-invalid", reason, status, reason=reason, **extra)


def submit_model(principal: Principal, project_id: int, name: str, data: bytes,
                 dry_run: bool = False, classes: list[str] | None = None) -> tuple[BimModel, bool]:
    """Check and store an uploaded model for import; return it and whether it is new."""
    require(principal, "model.import")
    if not project_in_scope(principal, project_id, write=True):
        raise ApiProblem("not-found", f"no project {project_id} you manage")
    extension = next((e for e in EXTENSIONS if name.lower().endswith(e)), None)
    if extension is None:
        raise _invalid(f"{name}: send an .ifc or .ifczip file")
    limit = current_app.config["MODEL_MAX_BYTES"]
    if len(data) > limit:
        raise _invalid(f"{name}: larger than {limit:,} bytes", 413)
    try:
        schema = sniff(unpack(name, data, limit))
        classes = check_classes(schema, classes) if classes else None
    except ModelTooLarge as error:
        raise _invalid(f"{name}: {error}", 413) from error
    except ModelInvalid as error:
        raise _invalid(f"{name}: {error}") from error
    digest = hashlib.sha256(data).hexdigest()
    if not dry_run:
        # A retried upload, or the same file again: the same model, nothing changes. Unless
        # a later version of that model was imported since: then this is a return to an
        # earlier version, imported again as the newest (a diff like any other).
        for existing in db.session.scalars(select(BimModel).where(
                BimModel.project_id == project_id, BimModel.content_hash == digest,
                BimModel.dry_run.is_(False), BimModel.status != "failed")):
            if existing.classes == classes and not _superseded(existing):
                return existing, False
    key = f"models/{digest[:2]}/{digest}{extension}"
    storage().put(key, data, EXTENSIONS[extension])  # the file first: no row without it
    model = BimModel(project_id=project_id, content_hash=digest, storage_key=key,
                     original_name=name[:200], size_bytes=len(data), schema=schema,
                     dry_run=dry_run, classes=classes, status="pending",
                     uploaded_by_user_id=principal.user_id)
    db.session.add(model)
    db.session.commit()
    return model, True


def _superseded(model: BimModel) -> bool:
    """Tell whether another version of the same model (same IfcProject) came after it.

    A later upload not imported yet has no IfcProject read: it may be a version of this
    model, and it will be applied first, so this one is imported again after it."""
    if model.ifc_project_global_id is None:
        return False
    return db.session.scalar(select(BimModel.id).where(
        BimModel.project_id == model.project_id, BimModel.id > model.id,
        or_(BimModel.ifc_project_global_id == model.ifc_project_global_id,
            BimModel.status.in_(("pending", "running"))),
        BimModel.dry_run.is_(False), BimModel.status != "failed").limit(1)) is not None


def model_for_reading(principal: Principal, model_id: int) -> BimModel:
    """Return a model the principal may read, or raise 404."""
    return readable_or_404(principal, BimModel, model_id, "model")


def list_models(principal: Principal, project_id: int) -> list[BimModel]:
    """List a project's models, newest first."""
    if not project_in_scope(principal, project_id):
        raise ApiProblem("not-found", f"no project {project_id}")
    return list(db.session.scalars(select(BimModel).where(BimModel.project_id == project_id)
                                   .order_by(BimModel.id.desc())))


def model_states(principal: Principal, model_id: int) -> dict[str, Any]:
    """Return, as columns, every component of the model's project that has a GlobalId:
    what the model page paints its elements with, in one read (no paging)."""
    model = model_for_reading(principal, model_id)
    rows = db.session.execute(
        select(Component.id, Component.ifc_global_id, Component.code, Component.mark,
               Component.state, Component.on_hold, Component.damaged, Component.ncr_open)
        .where(Component.project_id == model.project_id, Component.ifc_global_id.isnot(None))
        .order_by(Component.id)).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 8
    return {"model_id": model.id, "project_id": model.project_id, "count": len(rows),
            **{name: list(column) for name, column in zip(
                ("ids", "global_ids", "codes", "marks", "states", "on_hold", "damaged",
                 "ncr_open"), columns, strict=True)}}


# --- the import job ----------------------------------------------------------------------


def import_model(model_id: int, progress: Callable[[int, int], None] | None = None) -> BimModel:
    """Run a model's import (what the job executes); a model already done is left as it is."""
    model = db.session.get(BimModel, model_id)
    if model is None:
        raise LookupError(f"no model {model_id}")
    if model.status in ("done", "failed"):
        return model
    model.status, model.started_at = "running", datetime.now(UTC)
    db.session.commit()
    try:
        reading = read_model(model.original_name, storage().get(model.storage_key),
                             model.classes, progress)
        _apply(model, reading)
        model.status, model.finished_at = "done", datetime.now(UTC)
        db.session.commit()
    except ModelInvalid as error:
        db.session.rollback()
        _fail(model_id, str(error))
    except Exception as error:
        db.session.rollback()
        current_app.logger.exception("model %s: import failed", model_id)
        _fail(model_id, f"the import failed: {type(error).__name__}: {error}")
    return db.session.get(BimModel, model_id)


def _fail(model_id: int, reason: str) -> None:
    model = db.session.get(BimModel, model_id)
    model.status, model.reason, model.finished_at = "failed", reason[:2000], datetime.now(UTC)
    db.session.commit()


class _Places:
    """The project's storeys (see `model_storeys`) and component types for a model's
    elements, created when missing."""

    def __init__(self, project_id: int, write: bool, reading: ModelReading):
        self.project_id, self.write = project_id, write
        self.storeys = ModelStoreys(project_id, write, reading.storeys)
        self.types = {name: id_ for id_, name in db.session.execute(
            select(ComponentType.id, ComponentType.name)
            .where(ComponentType.project_id == project_id))}
        self.created: Counter[str] = Counter()

    def storey(self, record: ElementRecord):
        return self.storeys.storey_id(record.storey_global_id, record.building, record.storey)

    def component_type(self, record: ElementRecord):
        if record.type_name not in self.types:
            self.created["component_types"] += 1
            if not self.write:
                self.types[record.type_name] = ("new type", record.type_name)
                return self.types[record.type_name]
            row = ComponentType(project_id=self.project_id, name=record.type_name,
                                category=record.category, drawing="",
                                length_mm=_bounded(record.length_mm),
                                width_mm=_bounded(record.width_mm),
                                height_mm=_bounded(record.height_mm),
                                weight_kg=record.weight_kg)
            db.session.add(row)
            db.session.flush()
            self.types[record.type_name] = row.id
        return self.types[record.type_name]


def _bounded(millimetres: int | None) -> int | None:
    return millimetres if millimetres is not None and 0 < millimetres <= 100_000 else None


def _apply(model: BimModel, reading: ModelReading) -> None:
    """Diff the reading against the project's components and, unless a dry run, write it."""
    write = not model.dry_run
    model.schema, model.authoring_application = reading.schema, reading.application
    model.ifc_project_global_id = reading.project_global_id
    project_id = model.project_id
    places = _Places(project_id, write, reading)
    columns = [Component.id, Component.state, Component.removed_from_model,
               Component.bim_model_id, Component.ifc_global_id,
               *[getattr(Component, name) for name in MODEL_FIELDS]]
    existing = {row.ifc_global_id: row for row in db.session.execute(
        select(*columns).where(Component.project_id == project_id,
                               Component.ifc_global_id.is_not(None)))}
    now = datetime.now(UTC)
    inserts, updates, changes, differences = [], [], [], []
    deltas: Counter = Counter()
    counts = Counter()
    for record in reading.elements:
        wanted = {"mark": record.mark, "component_type_id": places.component_type(record),
                  "storey_id": places.storey(record),
                  "install_sequence": record.install_sequence, "weight_kg": record.weight_kg,
                  "volume_m3": record.volume_m3, "grid_code": record.grid_code,
                  "ifc_class": record.ifc_class}
        row = existing.get(record.global_id)
        if row is None:
            counts["added"] += 1
            _note(differences, record, "added", {})
            inserts.append({**wanted, "code": new_code(), "project_id": project_id,
                            "ifc_global_id": record.global_id, "bim_model_id": model.id,
                            "created_at": now, "updated_at": now})
            count_state_move(deltas, project_id, wanted["storey_id"], wanted["component_type_id"],
                        "planned", 1)
            continue
        if record.install_sequence is None:  # a model without a sequence keeps ours
            wanted["install_sequence"] = row.install_sequence
        diff = {name: [_plain(getattr(row, name)), _plain(value)]
                for name, value in wanted.items() if getattr(row, name) != value}
        if row.removed_from_model:
            diff["removed_from_model"] = [True, False]
        if not diff:
            counts["unchanged"] += 1
            continue
        counts["changed"] += 1
        _note(differences, record, "changed", diff)
        updates.append({**wanted, "b_id": row.id, "removed_from_model": False,
                        "bim_model_id": row.bim_model_id or model.id, "updated_at": now})
        changes.append({"component_id": row.id, "changes": diff})
        count_state_move(deltas, project_id, row.storey_id, row.component_type_id, row.state, -1)
        count_state_move(deltas, project_id, wanted["storey_id"], wanted["component_type_id"],
                    row.state, 1)
    removed = _removed(model, reading, existing)
    counts["removed"] = len(removed)
    for row in removed:
        _note(differences, row, "removed", {"removed_from_model": [False, True]})
    model.added, model.changed, model.unchanged = counts["added"], counts["changed"], \
        counts["unchanged"]
    model.removed, model.skipped = counts["removed"], reading.skipped_count
    model.skipped_reasons = reading.skipped
    model.storeys = [{"global_id": s.global_id, "building": s.building, "name": s.name,
                      "elevation_m": s.elevation_m, "elements": s.elements}
                     for s in reading.storeys]
    # The buildings and storeys the model renamed or moved come first: they are few, and
    # every element on them is counted where it now is.
    model.differences = places.storeys.differences + differences
    created = places.storeys.created + places.created
    if created:
        model.differences = model.differences + [{"change": "created", **created}]
    if not write:
        return
    table = Component.__table__
    # Executemany, not a query per element; the progress counters move in one upsert.
    if inserts:
        db.session.execute(insert(table), inserts)
    if updates:
        db.session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            version=table.c.version + 1), updates)
    if removed:
        db.session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            removed_from_model=True, updated_at=now, version=table.c.version + 1),
            [{"b_id": row.id} for row in removed])
        changes.extend({"component_id": row.id, "changes": {"removed_from_model": [False, True]}}
                       for row in removed)
    if changes:
        db.session.execute(insert(ComponentChange.__table__),
                           [{**change, "bim_model_id": model.id, "created_at": now}
                            for change in changes])
    bump(db.session.connection(), deltas)


def _removed(model: BimModel, reading: ModelReading, existing: dict) -> list:
    """Components of earlier imports of the same model (same IfcProject) that it no longer has."""
    present = {record.global_id for record in reading.elements}
    same_model = set(db.session.scalars(select(BimModel.id).where(
        BimModel.project_id == model.project_id, BimModel.dry_run.is_(False),
        BimModel.ifc_project_global_id == reading.project_global_id)))
    same_model.add(model.id)
    return [row for global_id, row in existing.items()
            if global_id not in present and not row.removed_from_model
            and row.bim_model_id in same_model]


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _note(differences: list, item, change: str, fields: dict) -> None:
    if len(differences) < DIFFERENCES_SHOWN:
        differences.append({"change": change, "global_id": item.global_id
                            if isinstance(item, ElementRecord) else item.ifc_global_id,
                            "mark": item.mark, "fields": fields})


def component_model_changes(component_id: int) -> list[dict[str, Any]]:
    """List what model imports changed in a component's plan, oldest first."""
    return [{"bim_model_id": change.bim_model_id, "changes": change.changes,
             "at": change.created_at}
            for change in db.session.scalars(
                select(ComponentChange).where(ComponentChange.component_id == component_id)
                .order_by(ComponentChange.id))]


def model_view(model: BimModel) -> dict[str, Any]:
    """Return a model as the API shows it."""
    view = {column.key: getattr(model, column.key) for column in BimModel.__table__.columns
            if column.key not in ("storage_key", "content_hash")}
    view["content_hash"] = model.content_hash
    view["as_built_url"] = f"/api/v1/models/{model.id}/as-built.ifc"
    return view


# --- as built ------------------------------------------------------------------------------


_MILESTONES = {"CastAt": "cast", "DeliveredAt": "delivered", "InstalledAt": "installed",
               "AcceptedAt": "accepted"}


def as_built(principal: Principal, model_id: int) -> tuple[BimModel, bytes]:
    """Return a model with Pset_PrefabTrace on every element that is a tracked component."""
    model = _ready(model_for_reading(principal, model_id))
    components = db.session.scalars(select(Component).where(
        Component.project_id == model.project_id, Component.ifc_global_id.is_not(None))).all()
    by_id = {component.id: component for component in components}
    times: dict[int, dict[str, datetime]] = {component_id: {} for component_id in by_id}
    corrected = select(Event.corrects_event_id).where(Event.corrects_event_id.is_not(None))
    for component_id, to_state, moment in db.session.execute(
            select(Event.component_id, Event.to_state,
                   Event.server_time).where(Event.component_id.in_(
                       select(Component.id).where(Component.project_id == model.project_id,
                                                  Component.ifc_global_id.is_not(None))),
                       Event.id.not_in(corrected)).order_by(Event.id)):
        milestones = times[component_id]
        milestones["LastEventAt"] = moment
        for name, state in _MILESTONES.items():
            if to_state == state and name not in milestones:
                milestones[name] = moment
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    states = {}
    for component in components:
        milestones = times[component.id]
        states[component.ifc_global_id] = {
            "Code": component.code, "LabelURL": base + identity_of(component).path(),
            "State": component.state, "OnHold": component.on_hold,
            "NCROpen": component.ncr_open,
            **{name: _iso(milestones.get(name)) for name in TRACE_PROPERTIES[5:]}}
    try:
        data = write_as_built(model.original_name, storage().get(model.storage_key), states)
    except ModelInvalid as error:
        raise _invalid(str(error)) from error
    return model, data


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


# --- geometry for the model page ----------------------------------------------------------


def geometry_key(model: BimModel) -> str:
    """Name a model's converted geometry in storage (by its file's hash and the converter)."""
    digest = model.content_hash
    return f"geometry/{digest[:2]}/{digest}-v{geometry.GEOMETRY_VERSION}.glb"


def _ready(model: BimModel) -> BimModel:
    """Return the model if its import is done; else refuse (409): there is nothing to show."""
    if model.status != "done":
        raise ApiProblem("model-not-ready", f"the model's import is {model.status}"
                         + (f": {model.reason}" if model.reason else ""),
                         import_status=model.status)
    return model


def model_geometry(principal: Principal, model_id: int) -> bytes | None:
    """Return a model's elements as a GLB, or None while it is being converted."""
    model = _ready(model_for_reading(principal, model_id))
    key = geometry_key(model)
    if not storage().exists(key):
        enqueue_model_geometry(model.id, model.content_hash)
        if not storage().exists(key):
            return None
    return storage().get(key)


def convert_geometry(model_id: int) -> None:
    """Convert a model's geometry to a GLB kept in storage, unless it is there already."""
    model = db.session.get(BimModel, model_id)
    if model is None:
        raise LookupError(f"no model {model_id}")
    key = geometry_key(model)
    if storage().exists(key):
        return
    try:
        opened = open_model(unpack(model.original_name, storage().get(model.storage_key)))
        data = geometry.convert(opened)
    except ModelInvalid as error:
        raise _invalid(str(error)) from error
    storage().put(key, data, geometry.MEDIA_TYPE)


# --- jobs: the import and the geometry run by the configured back end -------------------


def run_model_import(model_id: int) -> None:
    """Import an IFC model, then convert its geometry for the model page (an RQ job)."""
    jobs.in_app(import_model, model_id)
    jobs.in_app(_geometry_after_import, model_id)


def _geometry_after_import(model_id: int) -> None:
    model = db.session.get(BimModel, model_id)
    if model is None or model.status != "done" or model.dry_run:
        return
    try:
        convert_geometry(model_id)
    except Exception:  # the import stands; the model page converts again on demand
        current_app.logger.exception("model %s: the geometry conversion failed", model_id)


def run_model_geometry(model_id: int) -> None:
    """Convert a model's geometry for the model page (what an RQ worker executes)."""
    jobs.in_app(convert_geometry, model_id)


def enqueue_model_geometry(model_id: int, content_hash: str) -> None:
    """Have a model's geometry converted by the configured back end (once per file)."""
    app = current_app._get_current_object()
    if app.config["JOBS"] == "inline":
        run_model_geometry(model_id)
        return
    queue = jobs.redis_queue(app)
    job_id = f"geometry-{content_hash}"
    # A page polling for the geometry asks again and again: one conversion per file.
    job = queue.fetch_job(job_id)
    if job is not None and job.get_status(refresh=False) in ("queued", "started", "deferred",
                                                             "scheduled"):
        return
    queue.enqueue(run_model_geometry, model_id, job_id=job_id,
                  job_timeout=app.config["MODEL_JOB_TIMEOUT"], failure_ttl=86400,
                  description=f"model {model_id} geometry")


def enqueue_model_import(model_id: int) -> None:
    """Have a model's import run by the configured back end (parsed there, never in a view)."""
    app = current_app._get_current_object()
    if jobs.backend(app) == "inline":
        run_model_import(model_id)
        return
    # The photo workers serve the queue: a model import is one more kind of job.
    jobs.redis_queue(app).enqueue(run_model_import, model_id,
                                  job_timeout=app.config["MODEL_JOB_TIMEOUT"],
                                  failure_ttl=7 * 86400, description=f"model {model_id} import")
