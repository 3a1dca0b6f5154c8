"""Loads: truck trips, their items, load scans and labels.

Planning loads is in construction.services.load_plans; where a storey's pieces are and
the trucks of a day, in construction.services.deliveries; the papers, in load_papers.

A load carries components in loading order (the first loaded lies at the bottom;
the truck is unloaded in reverse). Scanning its label acts on every component
through the one capture path (`construction.services.scans`), in one
transaction: one event per component, all or nothing.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from construction import lifecycle
from construction.errors import ApiProblem, problem_body
from construction.extensions import db
from construction.lifecycle import Status, TransitionError
from construction.models import (
    Component,
    ComponentType,
    Load,
    LoadItem,
    LoadScan,
    Project,
    Storey,
    User,
)
from construction.pagination import Page, paginate
from construction.permissions import (
    Principal,
    in_scope,
    project_in_scope,
    readable_or_404,
    require,
)
from construction.services.keys import publish_signing_key, signing_key, verifying_keys
from construction.services.labels import is_label_url
from construction.services.scans import ScanItem, record_scans
from labels.codes import CodeError, display, new_code, normalize
from labels.gs1 import GS1Error, human_readable_sscc, make_sscc, sscc_uri, validate_sscc
from labels.payload import LabelIdentity, Verification, sign, verify

# What a load scan does to the load: the load's state before and after.
LOAD_ACTIONS: dict[str, tuple[str, str]] = {
    "load": ("open", "loaded"),
    "depart": ("loaded", "in_transit"),
    "arrive": ("in_transit", "arrived"),
    "accept_delivery": ("arrived", "received"),
    "reject_delivery": ("arrived", "rejected"),
}
NEXT_ACTIONS = {"open": ["load"], "loaded": ["depart"], "in_transit": ["arrive"],
                "arrived": ["accept_delivery", "reject_delivery"]}
LOAD_STATES = lifecycle.LOAD_STATES
EXCEPTION_ACTIONS = ("reject_delivery", "report_damage")
TIMESTAMP_OF = {"load": "loaded_at", "depart": "departed_at", "arrive": "arrived_at",
               "accept_delivery": "received_at", "reject_delivery": "received_at"}
_FINISHED = ("received", "rejected")
_EDITABLE = ("vehicle", "driver", "trailer_type", "planned_departure_at", "planned_arrival_at",
             "note", "max_weight_kg")


# --- reading -------------------------------------------------------------------------


def load_for(principal: Principal, load_id: int, write: bool = False) -> Load:
    """Return a load the principal may read (or change), or raise 404."""
    return readable_or_404(principal, Load, load_id, "load", write=write)


def _item_rows(load_ids: list[int]) -> dict[int, list[Any]]:
    rows: dict[int, list[Any]] = {load_id: [] for load_id in load_ids}
    if not load_ids:
        return rows
    for row in db.session.execute(
        select(LoadItem.load_id, LoadItem.position, Component.id, Component.code,
               Component.mark, Component.state, Component.on_hold, Component.damaged,
               Component.ncr_open, Component.storey_id, Component.install_sequence,
               ComponentType.name.label("type_name"), ComponentType.weight_kg,
               Storey.name.label("storey"))
        .join(Component, LoadItem.component_id == Component.id)
        .join(ComponentType, Component.component_type_id == ComponentType.id)
        .outerjoin(Storey, Component.storey_id == Storey.id)
        .where(LoadItem.load_id.in_(load_ids))
        .order_by(LoadItem.load_id, LoadItem.position)
    ):
        rows[row.load_id].append(row)
    return rows


def iso(value: datetime | None) -> str | None:
    """Write a time as ISO 8601 (None stays None)."""
    return value.isoformat() if value is not None else None


def label_url(load: Load) -> str:
    """Return the signed GS1 Digital Link (or load-code link) a load's label carries.

    It is the URL issued for the label's version; a load made before URLs were
    kept shows the one its next print will issue.
    """
    if load.label_url is not None:
        return load.label_url
    key = signing_key()  # published when the load was created (or the key rotated)
    return _signed(current_app.config["PUBLIC_BASE_URL"], load_identity(load),
                   load.label_version, key)


def issue_label_url(load: Load) -> str:
    """Sign the load's label URL once and keep it; a revoked key issues a new version.

    Called where the label is written (the load's creation, a print): the
    label a truck carries is then compared byte for byte with the issued URL.
    """
    if load.label_url is not None:
        if not label_key_revoked(load):
            return load.label_url
        load.label_version += 1  # the old label no longer scans: print the new one
    load.label_url = _signed(current_app.config["PUBLIC_BASE_URL"], load_identity(load),
                             load.label_version, signing_key())
    return load.label_url


def label_key_revoked(load: Load) -> bool:
    """Tell whether the load's issued label is signed with a revoked key (printing it
    again signs a new version)."""
    if load.label_url is None:
        return False
    keys, revoked = verifying_keys()
    return verify(load.label_url, keys).key_id in revoked


@functools.lru_cache(maxsize=4096)
def _signed(base_url: str, identity: LabelIdentity, version: int, key) -> str:
    # Ed25519 signatures are deterministic: the same label always signs the same.
    return sign(base_url, identity, version, key)


def load_identity(load: Load) -> LabelIdentity:
    """Name a load as its label does: by SSCC when it has one, else by its load code."""
    return LabelIdentity(sscc=load.sscc) if load.sscc else LabelIdentity(load=load.code)


def sscc_text(load: Load) -> str | None:
    """Return the load's SSCC as printed, or None without GS1 numbers."""
    if not load.sscc:
        return None
    prefix = current_app.config["GS1_COMPANY_PREFIX"]
    return human_readable_sscc(load.sscc, len(prefix) if prefix else 7)


def epc_of(load: Load) -> str:
    """Return the EPC of a load: the SSCC URI, or its load-code link."""
    prefix = current_app.config["GS1_COMPANY_PREFIX"]
    if load.sscc and prefix and load.sscc[1:1 + len(prefix)] == prefix:
        return sscc_uri(load.sscc, len(prefix))
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + load_identity(load).path()


def load_views(loads: list[Load], with_items: bool = True) -> list[dict[str, Any]]:
    """Return the API view of loads (items in loading order, with weights)."""
    items = _item_rows([load.id for load in loads])
    return [_view(load, items[load.id], with_items) for load in loads]


def load_view(load: Load) -> dict[str, Any]:
    """Return the API view of one load."""
    return load_views([load])[0]


def _view(load: Load, rows: list[Any], with_items: bool) -> dict[str, Any]:
    view = {
        "id": load.id, "project_id": load.project_id, "code": load.code,
        "display_code": display(load.code), "sscc": load.sscc, "sscc_text": sscc_text(load),
        "label_url": label_url(load), "state": load.state,
        "next_actions": NEXT_ACTIONS.get(load.state, []),
        "vehicle": load.vehicle, "driver": load.driver, "trailer_type": load.trailer_type,
        "planned_departure_at": iso(load.planned_departure_at),
        "planned_arrival_at": iso(load.planned_arrival_at), "note": load.note,
        "max_weight_kg": load.max_weight_kg,
        "weight_kg": round(sum(row.weight_kg or 0.0 for row in rows), 1),
        "piece_count": len(rows),
        "created_at": iso(load.created_at), "loaded_at": iso(load.loaded_at),
        "departed_at": iso(load.departed_at), "arrived_at": iso(load.arrived_at),
        "received_at": iso(load.received_at),
    }
    if with_items:
        view["items"] = [{
            "position": row.position, "component_id": row.id, "code": row.code,
            "mark": row.mark, "component_type": row.type_name, "weight_kg": row.weight_kg,
            "storey": row.storey, "state": row.state, "on_hold": row.on_hold,
            "damaged": row.damaged, "ncr_open": row.ncr_open} for row in rows]
    return view


@dataclass
class LoadFilters:
    project_id: int | None = None
    state: str | None = None
    date: date | None = None
    code: str | None = None  # what a scanner read


def day_range(day: date) -> tuple[datetime, datetime]:
    """Return a day of the report time zone as its UTC start and end."""
    zone = timezone(timedelta(minutes=current_app.config["REPORT_UTC_OFFSET_MINUTES"]))
    start = datetime.combine(day, time(), zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def list_loads(principal: Principal, filters: LoadFilters, page: int,
               per_page: int) -> Page:
    """Return one page of loads matching the filters (newest first)."""
    query = in_scope(select(Load), principal, Load.project_id)
    if filters.code is not None:
        if is_label_url(filters.code) and not is_load_reference(filters.code):
            return Page([], 0, page, per_page)  # a component's label
        try:
            query = query.where(Load.id == find_load(principal, filters.code, write=False).id)
        except ApiProblem as problem:
            if problem.type != "unknown-load":
                raise
            return Page([], 0, page, per_page)
    if filters.project_id is not None:
        query = query.where(Load.project_id == filters.project_id)
    if filters.state is not None:
        query = query.where(Load.state == filters.state)
    if filters.date is not None:
        # The day the truck leaves (as planned, else as it did), in the reports' zone.
        start, end = day_range(filters.date)
        day = func.coalesce(Load.departed_at, Load.planned_departure_at, Load.created_at)
        query = query.where(day >= start, day < end)
    return paginate(query.order_by(Load.id.desc()), page, per_page)


# --- building loads ----------------------------------------------------------------------


def _new_load_code() -> str:
    # Load and component codes share the typed form: keep them apart.
    while True:
        code = new_code()
        if db.session.scalar(select(Load.id).where(Load.code == code)) is None and \
                db.session.scalar(select(Component.id).where(Component.code == code)) is None:
            return code


def create_load(principal: Principal, fields: dict[str, Any], commit: bool = True) -> Load:
    """Open a load for a project, with its components in loading order."""
    require(principal, "load.build")
    project_id = fields["project_id"]
    if not project_in_scope(principal, project_id, write=True):
        raise ApiProblem("not-found", f"no project {project_id}")
    load = Load(project_id=project_id, code=_new_load_code(), state="open",
                created_by_user_id=principal.user_id,
                **{name: fields[name] for name in _EDITABLE if fields.get(name) is not None})
    _check_times(load)
    publish_signing_key()
    db.session.add(load)
    db.session.flush()
    prefix = current_app.config["GS1_COMPANY_PREFIX"]
    if prefix:
        # The load's id is its serial reference: ids are never reused, so the SSCC is
        # never issued twice by this system.
        try:
            load.sscc = make_sscc(current_app.config["GS1_SSCC_EXTENSION_DIGIT"], prefix,
                                  load.id)
        except GS1Error as error:
            raise ApiProblem("conflict",
                             f"no SSCC is left for this company prefix: {error}") from error
    issue_label_url(load)
    _set_items(principal, load, fields.get("component_ids") or [])
    if commit:
        commit_items("the load")
    return load


def _check_times(load: Load) -> None:
    if load.planned_departure_at and load.planned_arrival_at \
            and load.planned_arrival_at < load.planned_departure_at:
        raise ApiProblem("validation-error", "the truck cannot arrive before it leaves",
                         errors={"planned_arrival_at": ["Before planned_departure_at."]})


def commit_items(what: str) -> None:
    """Commit a change of loads' items; a component put on another load meanwhile is a 409."""
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ApiProblem("component-in-another-load",
                         f"{what} changed at the same moment: a component was put on another "
                         "load; send it again") from error


def update_load(principal: Principal, load_id: int, fields: dict[str, Any]) -> Load:
    """Change a load's trip details, or (while open) its components and their order."""
    require(principal, "load.build")
    load = load_for(principal, load_id, write=True)
    if "component_ids" in fields:
        _require_open(load)
        _set_items(principal, load, fields.pop("component_ids") or [])
    if "max_weight_kg" in fields:
        _require_open(load)
    for name, value in fields.items():
        setattr(load, name, value if value is not None or name.startswith("planned")
                or name == "max_weight_kg" else "")
    _check_times(load)
    if load.max_weight_kg is not None:
        _check_weight(load, [row.id for row in _item_rows([load.id])[load.id]])
    commit_items("the load")
    return load


def add_items(principal: Principal, load_id: int, component_ids: list[int]) -> Load:
    """Put components on an open load, after those already on it."""
    require(principal, "load.build")
    load = load_for(principal, load_id, write=True)
    _require_open(load)
    current = [row.id for row in _item_rows([load.id])[load.id]]
    _set_items(principal, load, current + [i for i in component_ids if i not in current])
    commit_items("the load")
    return load


def remove_item(principal: Principal, load_id: int, component_id: int) -> Load:
    """Take a component off an open load (nothing to do when it is not on it)."""
    require(principal, "load.build")
    load = load_for(principal, load_id, write=True)
    _require_open(load)
    db.session.execute(delete(LoadItem).where(LoadItem.load_id == load.id,
                                              LoadItem.component_id == component_id))
    db.session.commit()
    return load


def _require_open(load: Load) -> None:
    if load.state != "open":
        raise ApiProblem("load-closed", f"load {load.code} is {load.state}: its components "
                         "no longer change", load_state=load.state)


def loadable_refusals(components: list[Component]) -> list[dict[str, Any]]:
    """Return why each component may not go on a truck (the `load` action's guards)."""
    refusals = []
    for component in components:
        status = Status(component.state, component.on_hold, component.damaged,
                        component.ncr_open)
        try:
            lifecycle.apply(status, "load")
        except TransitionError as error:
            refusals.append({"component_id": component.id, "code": component.code,
                             "reason": error.detail, "type": error.kind,
                             "current_state": status.state})
    return refusals


def refuse_unloadable(refusals: list[dict[str, Any]]) -> None:
    """Raise 409 component-not-loadable naming the refused components, if there are any."""
    if refusals:
        shown = "; ".join(f"{r['code']}: {r['reason']}" for r in refusals[:5])
        raise ApiProblem("component-not-loadable", f"these components may not be loaded: "
                         f"{shown}", refusals=refusals[:100])


def _set_items(principal: Principal, load: Load, component_ids: list[int]) -> None:
    ids = list(dict.fromkeys(component_ids))
    refuse_unloadable(loadable_refusals(components_for(principal, load.project_id, ids)))
    elsewhere = db.session.execute(
        select(LoadItem.component_id, Load.code).join(Load, LoadItem.load_id == Load.id)
        .where(LoadItem.active_component_id.in_(ids), LoadItem.load_id != load.id)).all() \
        if ids else []
    if elsewhere:
        raise ApiProblem("component-in-another-load", "a component rides on one load at a "
                         "time: " + ", ".join(f"{c} on {display(code)}" for c, code
                                              in elsewhere[:10]),
                         components=[{"component_id": c, "load_code": code}
                                     for c, code in elsewhere[:100]])
    _check_weight(load, ids)
    db.session.execute(delete(LoadItem).where(LoadItem.load_id == load.id))
    db.session.flush()
    db.session.add_all(LoadItem(load_id=load.id, component_id=component_id, position=position,
                                active_component_id=component_id)
                       for position, component_id in enumerate(ids, start=1))
    db.session.flush()


def components_for(principal: Principal, project_id: int, ids: list[int]) -> list[Component]:
    if not ids:
        return []
    found = {c.id: c for c in db.session.scalars(in_scope(
        select(Component).where(Component.id.in_(ids)), principal, Component.project_id,
        write=True))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApiProblem("not-found", "no component you may load: "
                         + ", ".join(str(i) for i in missing[:10]), component_ids=missing[:100])
    foreign = [c.id for c in found.values() if c.project_id != project_id]
    if foreign:
        raise ApiProblem("wrong-project", "components of another project cannot ride on this "
                         "load: " + ", ".join(str(i) for i in foreign[:10]),
                         component_ids=foreign[:100])
    return [found[i] for i in ids]


def _weights(ids: list[int]) -> dict[int, float]:
    if not ids:
        return {}
    return {row.id: row.weight_kg or 0.0 for row in db.session.execute(
        select(Component.id, ComponentType.weight_kg)
        .join(ComponentType, Component.component_type_id == ComponentType.id)
        .where(Component.id.in_(ids)))}


def _check_weight(load: Load, ids: list[int]) -> None:
    if load.max_weight_kg is None:
        return
    total = round(sum(_weights(ids).values()), 1)
    if total > load.max_weight_kg:
        raise ApiProblem("over-weight-limit", f"{total:,.1f} kg is over the load's limit of "
                         f"{load.max_weight_kg:,.1f} kg", weight_kg=total,
                         max_weight_kg=load.max_weight_kg)


# --- finding a load from what was scanned ------------------------------------------------


def is_load_reference(text: str) -> bool:
    """Tell whether a scanned text names a load: a load label URL or a printed SSCC.

    An SSCC is recognised in its printed forms: `(00)` in front, `00` and 18 digits,
    or digits in groups; 18 bare digits stay an internal component id.
    """
    text = text.strip()
    if is_label_url(text):
        path = text.split("://", 1)[1].partition("/")[2]
        return path.startswith(("00/", "l/"))
    if text.startswith("(00)"):
        return True
    digits = text.replace(" ", "")
    return digits.isascii() and digits.isdigit() and (
        (len(digits) == 20 and digits.startswith("00")) or (len(digits) == 18 and " " in text))


def find_load(principal: Principal, text: str, write: bool = True) -> Load:
    """Return the load a scanned label, SSCC or load code names, or raise a problem."""
    text = text.strip()
    if is_label_url(text):
        verdict = verify(text, *verifying_keys())
        if verdict.reason == "unknown-key":
            verdict = verify(text, *verifying_keys(refresh=True))
        identity = verdict.identity
        if not verdict.genuine or identity is None or not identity.names_load:
            raise ApiProblem("label-invalid", "the load label is not genuine: "
                             f"{verdict.reason}", reason=verdict.reason)
        condition = Load.sscc == identity.sscc if identity.sscc else Load.code == identity.load
    elif is_load_reference(text):
        try:
            condition = Load.sscc == validate_sscc(text)
        except GS1Error as error:
            raise ApiProblem("invalid-sscc", str(error), sscc=text) from error
        verdict = None
    else:
        try:
            condition = Load.code == normalize(text)
        except CodeError as error:
            raise ApiProblem("invalid-code", str(error), code=text) from error
        verdict = None
    load = db.session.scalar(in_scope(select(Load).where(condition), principal, Load.project_id,
                                      write=write))
    if load is None:
        raise ApiProblem("unknown-load", f"no load you may act on is named '{text}'")
    status, reason = judge_label(text, verdict, load) if verdict is not None else ("", "")
    if status == "revoked":
        raise ApiProblem("label-revoked", "this load label version was replaced")
    if status == "invalid":
        raise ApiProblem("label-invalid", "the load label is not genuine: the signature is "
                         "genuine but this is not the URL issued for the load's label",
                         reason=reason)
    return load


def judge_label(text: str, verdict: Verification, load: Load) -> tuple[str, str]:
    """Judge a scanned label of `load`: (genuine | revoked | invalid, reason).

    Genuine only when the signature verifies, the version is the load's current
    one and the text is, byte for byte, the URL issued for it.
    """
    if not verdict.genuine:
        return "invalid", verdict.reason
    if verdict.version != load.label_version:
        return "revoked", "revoked"
    if text.strip() != label_url(load):
        return "invalid", "not-as-issued"
    return "genuine", "ok"


def load_code_exists(text: str) -> bool:
    """Tell whether a typed code is a load's code (checked when no component has it)."""
    try:
        code = normalize(text)
    except CodeError:
        return False
    return db.session.scalar(select(Load.id).where(Load.code == code)) is not None


# --- scanning a load ---------------------------------------------------------------------


@dataclass
class LoadScanRequest:
    """One scan of a load's label, as the client sent it."""

    action: str
    client_event_id: str
    client_time: datetime | None = None
    location: dict | None = None
    device: str | None = None
    exceptions: list[dict[str, Any]] | None = None


def component_event_id(client_event_id: str, component_id: int) -> str:
    """Return the client event id of one component's event in a load scan."""
    suffix = f"#{component_id}"
    if len(client_event_id) + len(suffix) > 64:
        client_event_id = hashlib.sha256(client_event_id.encode()).hexdigest()[:40]
    return client_event_id + suffix


def record_load_scan(principal: Principal, load: Load,
                     scan: LoadScanRequest) -> tuple[dict[str, Any], bool]:
    """Apply a load scan's action to every component of the load, all or nothing.

    Return the answer and whether anything new was recorded (False for a replay).
    """
    require(principal, "scan.record")
    if scan.action not in LOAD_ACTIONS:
        raise ApiProblem("invalid-load-action", f"a load label is scanned to "
                         f"{', '.join(LOAD_ACTIONS)}, not '{scan.action}'",
                         allowed_actions=NEXT_ACTIONS.get(load.state, []))
    # The items as they are now: the answer shows them as the scan leaves them.
    rows = _item_rows([load.id])[load.id]
    exceptions = _exceptions({row.id for row in rows}, scan)
    for action in {scan.action, *(e["action"] for e in exceptions.values())}:
        if not lifecycle.role_may(principal.role, action):
            raise ApiProblem("forbidden-action",
                             f"the role '{principal.role}' may not perform '{action}'",
                             action=action, role=principal.role)
    before, after = LOAD_ACTIONS[scan.action]
    earlier = None
    if load.state != before:
        # Replays come after the load moved on: only then is the scan looked up (a replay
        # that races the first one meets the unique index and is looked up on the retry).
        earlier = db.session.scalar(select(LoadScan).where(
            LoadScan.user_id == principal.user_id,
            LoadScan.client_event_id == scan.client_event_id))
    def reused() -> ApiProblem:
        return ApiProblem("client-event-id-reused", f"client_event_id "
                          f"'{scan.client_event_id}' was used for another scan",
                          client_event_id=scan.client_event_id)

    if earlier is not None and (earlier.load_id != load.id or earlier.action != scan.action):
        raise reused()
    if earlier is None and load.state != before:
        raise ApiProblem("invalid-transition", f"'{scan.action}' is not allowed for a load that "
                         f"is {load.state}", load_state=load.state,
                         allowed_actions=NEXT_ACTIONS.get(load.state, []))
    component_ids = earlier.component_ids if earlier is not None else [row.id for row in rows]
    if not component_ids:
        raise ApiProblem("invalid-transition", f"load {load.code} has no components",
                         load_state=load.state)
    items = []
    for component_id in component_ids:
        exception = exceptions.get(component_id)
        data: dict[str, Any] = {"load": load.sscc or load.code, "load_id": load.id}
        if exception is not None and exception.get("note"):
            data["note"] = exception["note"]
        items.append(ScanItem(code=str(component_id),
                              action=exception["action"] if exception else scan.action,
                              client_event_id=component_event_id(scan.client_event_id,
                                                                 component_id),
                              client_time=scan.client_time, location=scan.location,
                              data=data, device=scan.device))
    load_id = load.id
    stored: dict[str, Any] = {}
    # The commit expires the load: its columns are kept to answer without reading it again.
    snapshot = SimpleNamespace(**{column.key: getattr(load, column.key)
                                  for column in Load.__table__.columns})

    def record_the_load(new_events: list[dict[str, Any]], now: datetime) -> None:
        if not new_events:
            return  # a replay: the load scan is stored already
        connection = db.session.connection()
        moved = connection.execute(_MOVE_LOAD[scan.action], {
            "load_id": load_id, "before": before, "after": after, "now": now})
        if moved.rowcount != 1:
            raise ApiProblem("conflict", "the load changed while this was recorded; send it "
                             "again")
        if after in _FINISHED:
            connection.execute(_UNLOAD, {"b_load_id": load_id})
        if connection.execute(_SCAN_ID_USED, {"user_id": principal.user_id,
                                              "client_event_id": scan.client_event_id}).first():
            # The id names a scan of another load (this one's state was ready for it).
            raise reused()
        offset = None
        if scan.client_time is not None and scan.client_time.utcoffset() is not None:
            offset = int(scan.client_time.utcoffset().total_seconds() // 60)
        stored["id"] = connection.execute(_INSERT_LOAD_SCAN, {
            "load_id": load_id, "action": scan.action, "user_id": principal.user_id,
            "organization_id": principal.organization_id,
            "client_event_id": scan.client_event_id,
            "client_time": scan.client_time.astimezone(UTC) if scan.client_time else None,
            "client_utc_offset_minutes": offset, "server_time": now,
            "location": scan.location, "component_ids": component_ids,
            "exceptions": [{"component_id": c, **e} for c, e in exceptions.items()] or None,
        }).scalar_one()
        stored["server_time"] = now

    results = record_scans(principal, items, all_or_nothing=True, before_commit=record_the_load)
    refused = [(item, result) for item, result in zip(items, results, strict=True)
               if result.outcome == "rejected"]
    if refused:
        raise ApiProblem(
            "load-refused", f"{len(refused)} of {len(items)} components refuse "
            f"'{scan.action}'; nothing was recorded",
            refusals=[{"component_id": int(item.code), "action": item.action,
                       "problem": problem_body(r.problem.type, r.problem.status,
                                               r.problem.detail, **r.problem.extra)}
                      for item, r in refused])
    if stored:
        snapshot.state = after
        setattr(snapshot, TIMESTAMP_OF[scan.action], stored["server_time"])
        moved = {r.component["id"]: r.component for r in results}
        view = _view(snapshot, [SimpleNamespace(**{**row._asdict(), **{
            key: moved[row.id][key] for key in ("state", "on_hold", "damaged", "ncr_open")}})
            if row.id in moved else row for row in rows], with_items=True)
    else:  # a replay: the load as it is now
        stored.update(id=earlier.id if earlier else None,
                      server_time=earlier.server_time if earlier else None)
        view = load_view(load)
    recorded = any(result.outcome == "accepted" for result in results)
    return {"load": view,
            "scan": {"id": stored.get("id"), "action": scan.action,
                     "client_event_id": scan.client_event_id,
                     "server_time": iso(stored.get("server_time"))},
            "events": [r.event for r in results],
            "components": [r.component for r in results]}, recorded


# Statements are built once: a load scan is on the capture path.
_load = Load.__table__
_MOVE_LOAD = {action: update(_load).where(_load.c.id == bindparam("load_id"),
                                          _load.c.state == bindparam("before"))
              .values({"state": bindparam("after"), stamp: bindparam("now"),
                       "updated_at": bindparam("now")})
              for action, stamp in TIMESTAMP_OF.items()}
_UNLOAD = update(LoadItem.__table__).where(LoadItem.__table__.c.load_id == bindparam("b_load_id")) \
    .values(active_component_id=None)
_INSERT_LOAD_SCAN = insert(LoadScan.__table__).returning(LoadScan.__table__.c.id)
_SCAN_ID_USED = select(LoadScan.__table__.c.id).where(
    LoadScan.__table__.c.user_id == bindparam("user_id"),
    LoadScan.__table__.c.client_event_id == bindparam("client_event_id"))


def _exceptions(on_load: set[int], scan: LoadScanRequest) -> dict[int, dict[str, Any]]:
    listed = scan.exceptions or []
    if listed and scan.action != "accept_delivery":
        raise ApiProblem("validation-error", "only an accept_delivery lists exceptions",
                         errors={"exceptions": ["Only with the action accept_delivery."]})
    exceptions: dict[int, dict[str, Any]] = {}
    for index, exception in enumerate(listed):
        component_id = exception["component_id"]
        if component_id not in on_load:
            raise ApiProblem("validation-error", f"component {component_id} is not on this load",
                             errors={"exceptions": {str(index): {
                                 "component_id": ["Not on this load."]}}})
        if component_id in exceptions:
            raise ApiProblem("validation-error", f"component {component_id} is listed twice",
                             errors={"exceptions": {str(index): {
                                 "component_id": ["Listed twice."]}}})
        exceptions[component_id] = {"action": exception["action"],
                                    "note": exception.get("note") or ""}
    return exceptions


# --- printing --------------------------------------------------------------------------------


def printable_load(principal: Principal, load_id: int) -> Load:
    """Return a load the principal may print the papers of, or raise."""
    require(principal, "load.read")
    return load_for(principal, load_id)


def load_facts(load: Load) -> dict[str, Any]:
    """Return what a load's label and delivery note print besides its items."""
    project = db.session.get(Project, load.project_id)
    creator = db.session.get(User, load.created_by_user_id)
    return {"project": project.name, "project_code": project.code,
            "address": project.address, "created_by": creator.name if creator else ""}
