"""Labels: issuing and revoking label versions, printing them, checking scanned labels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from construction.errors import ApiProblem
from construction.extensions import db
from construction.identity import parse_scanned
from construction.models import (
    Building,
    Component,
    ComponentType,
    Event,
    Label,
    LabelKey,
    Organization,
    Project,
    Storey,
    User,
)
from construction.permissions import Principal, in_scope, participant_project_ids, require
from construction.services import audit
from construction.services.components import component_for_reading
from construction.services.keys import publish_key, signing_key, verifying_keys
from construction.services.projects import find_project
from labels import render
from labels.codes import CodeError
from labels.payload import LabelIdentity, sign, verify
from labels.render import LabelContent, LabelFont


def label_font() -> LabelFont:
    """Return the font labels, certificates and delivery notes print with (LABEL_FONT)."""
    return render.label_font(current_app.config["LABEL_FONT"] or None)


# --- issuing -------------------------------------------------------------------


def identity_of(component: Component) -> LabelIdentity:
    """Name a component as its label does: GS1 numbers when it has them, else its code."""
    if component.gtin is not None and component.serial is not None:
        return LabelIdentity(gtin=component.gtin, serial=component.serial)
    return LabelIdentity(code=component.code)


def printable_components(principal: Principal, component_ids: Iterable[int]) -> list[Component]:
    """Return the components in the order given, refusing any the principal may not print."""
    require(principal, "label.print")
    ids = list(dict.fromkeys(component_ids))
    if not ids:
        return []
    query = in_scope(select(Component).where(Component.id.in_(ids)), principal,
                     Component.project_id, write=True)
    found = {c.id: c for c in db.session.scalars(query)}
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10])
        raise ApiProblem("not-found", f"no component you may print: {shown}",
                         component_ids=missing[:100])
    return [found[i] for i in ids]


def sheet_selection(project_code: str, building_name: str | None = None,
                    storey_name: str | None = None, type_name: str | None = None,
                    state: str | None = None) -> dict:
    """Return the sheet selection that names a project's building, storey and type by name."""
    project = find_project(code=project_code)
    selection: dict = {"project_id": project.id, "state": state}
    if building_name:
        selection["building_id"] = db.session.scalar(select(Building.id).where(
            Building.project_id == project.id, Building.name == building_name))
        if selection["building_id"] is None:
            raise ApiProblem("not-found", f"no building {building_name!r} in {project_code}")
    if storey_name:
        query = (select(Storey.id).join(Building, Storey.building_id == Building.id)
                 .where(Building.project_id == project.id, Storey.name == storey_name))
        if selection.get("building_id"):
            query = query.where(Building.id == selection["building_id"])
        storeys = db.session.scalars(query).all()
        if len(storeys) != 1:
            raise ApiProblem("not-found",
                             f"{len(storeys)} storeys named {storey_name!r}: name the --building")
        selection["storey_id"] = storeys[0]
    if type_name:
        selection["component_type_id"] = db.session.scalar(select(ComponentType.id).where(
            ComponentType.project_id == project.id, ComponentType.name == type_name))
        if selection["component_type_id"] is None:
            raise ApiProblem("not-found", f"no component type {type_name!r} in {project_code}")
    return selection


def sheet_components(principal: Principal, selection: dict, limit: int) -> list[Component]:
    """Return the components a sheet request names, in print order (at most `limit`)."""
    ids = selection.get("component_ids")
    if ids:
        if len(set(ids)) > limit:
            raise ApiProblem("validation-error", f"at most {limit} labels per request",
                             errors={"component_ids": [f"Longer than {limit}."]})
        return printable_components(principal, ids)
    require(principal, "label.print")
    query = in_scope(select(Component).outerjoin(Storey, Component.storey_id == Storey.id)
                     .where(Component.project_id == selection["project_id"]),
                     principal, Component.project_id, write=True)
    for column, name in ((Component.storey_id, "storey_id"), (Storey.building_id, "building_id"),
                         (Component.component_type_id, "component_type_id"),
                         (Component.state, "state")):
        if selection.get(name) is not None:
            query = query.where(column == selection[name])
    # Storey by storey, in installation order: how crews stick them on.
    query = query.order_by(Storey.building_id, Storey.elevation_m, Storey.id,
                           Component.install_sequence, Component.mark, Component.id)
    components = list(db.session.scalars(query.limit(limit + 1)))
    if len(components) > limit:
        raise ApiProblem("validation-error", f"more than {limit} components match; narrow the "
                         "selection (building, storey, type or state)",
                         errors={"project_id": [f"More than {limit} components match."]})
    if not components:
        raise ApiProblem("not-found", "no component you may print matches the selection")
    return components


def _check_reprint(principal: Principal, reason: str) -> None:
    require(principal, "label.reprint")
    if not reason.strip():
        raise ApiProblem("validation-error", "a reprint says why the old label goes",
                         errors={"reason": ["Say why (torn, lost, wrong data...)."]})


def issue_labels(principal: Principal, components: list[Component], reprint: bool = False,
                 reason: str = "", layout: str | None = None) -> list[Label]:
    """Return a current label per component, issuing version 1 where there is none.

    With `reprint`, every component gets a new version and its previous one is
    revoked. With a `layout`, the call counts as a print of the labels it
    returns in that layout. The caller commits.
    """
    if not components:
        return []
    if reprint:
        _check_reprint(principal, reason)
    key = signing_key()
    kid = publish_key(key.public_key())
    revoked = set(db.session.scalars(select(LabelKey.key_id)
                                     .where(LabelKey.revoked_at.is_not(None))))
    if kid in revoked:
        raise ApiProblem("conflict", f"the label signing key {kid} is revoked: start a new one "
                         "(flask labels rotate-key) before printing")
    base = current_app.config["PUBLIC_BASE_URL"]
    ids = [c.id for c in components]
    now = datetime.now(UTC)
    current: dict[int, Label] = {}
    latest: dict[int, int] = {}
    for chunk in _chunks(ids):
        current.update((label.component_id, label) for label in db.session.scalars(
            select(Label).where(Label.component_id.in_(chunk), Label.revoked_at.is_(None))))
        latest.update(db.session.execute(
            select(Label.component_id, func.max(Label.version))
            .where(Label.component_id.in_(chunk)).group_by(Label.component_id)).all())
    if not reprint:
        _refuse_revoked_keys([label for label in current.values() if label.key_id in revoked])
    issued = []
    reprinted: dict[int, list[dict]] = {}  # project id -> the components reprinted
    for component in components:
        label = current.get(component.id)
        if label is None or reprint:
            version = latest.get(component.id, 0) + 1
            if label is not None:
                label.revoked_at = now
                label.revoked_by_user_id = principal.user_id
                label.revoked_reason = (reason or f"reprinted as version {version}")[:200]
            label = Label(component_id=component.id, version=version, key_id=kid,
                          url=sign(base, identity_of(component), version, key, kid),
                          issued_at=now, issued_by_user_id=principal.user_id, print_count=0)
            db.session.add(label)
            label.newly_issued = True  # not a column: tells the view 201 from 200
            latest[component.id] = version
            if reprint:
                reprinted.setdefault(component.project_id, []).append(
                    {"id": component.id, "code": component.code, "version": version})
        if layout is not None:
            label.print_count = (label.print_count or 0) + 1
            label.last_printed_at = now
            label.last_layout = layout
        issued.append(label)
    try:
        db.session.flush()
    except IntegrityError as error:
        # Another request issued a version of one of these at the same moment.
        db.session.rollback()
        raise ApiProblem("conflict", "a label of one of these components was issued at the "
                         "same moment; send the request again") from error
    for project_id, reprints in reprinted.items():
        audit.record("label.reprint", f"component {reprints[0]['id']}" if len(reprints) == 1
                     else f"{len(reprints)} components", project_id=project_id,
                     detail={"reason": reason, "components": reprints}, principal=principal)
    return issued


def _refuse_revoked_keys(labels: list[Label]) -> None:
    # Printing such a label again would stick on a label every scan refuses.
    if labels:
        ids = sorted(label.component_id for label in labels)
        raise ApiProblem("conflict", f"the current label of {len(ids)} component(s) is signed "
                         f"with a revoked key ({labels[0].key_id}): reprint it (`reprint: true` "
                         "with a reason) to sign a new version with the current key",
                         component_ids=ids[:100])


def current_label(principal: Principal, component_id: int) -> Label:
    """Return the component's current label for printing, issuing nothing.

    Refused when no label was issued yet (POST issues it), and when the
    current one is signed with a revoked key (a reprint replaces it).
    """
    printable_components(principal, [component_id])
    label = db.session.scalar(select(Label).where(Label.component_id == component_id,
                                                  Label.revoked_at.is_(None)))
    if label is None:
        raise ApiProblem("label-not-issued", "no label was issued for this component yet: "
                         f"POST /api/v1/components/{component_id}/labels issues version 1 "
                         "(or POST to this address to issue and print it)",
                         component_id=component_id)
    if db.session.scalar(select(LabelKey.revoked_at).where(LabelKey.key_id == label.key_id)):
        _refuse_revoked_keys([label])
    return label


def _chunks(values: list, size: int = 1000):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def labels_of(principal: Principal, component_id: int) -> list[Label]:
    """List every label version of a component the principal may read, newest first."""
    component_for_reading(principal, component_id)
    return list(db.session.scalars(select(Label).where(Label.component_id == component_id)
                                   .order_by(Label.version.desc())))


def _local_date(moment: datetime | None, offset_minutes: int | None) -> date | None:
    if moment is None:
        return None
    if offset_minutes is not None:
        moment = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    return moment.date()


def label_contents(labels: list[Label]) -> list[LabelContent]:
    """Return what each label prints: its URL and the human-readable block."""
    ids = list({label.component_id for label in labels})
    maker = aliased(Organization)
    facts = {}
    production: dict[int, date | None] = {}
    inspector: dict[int, str] = {}
    corrections = aliased(Event)
    for chunk in _chunks(ids):
        for row in db.session.execute(
            select(Component.id, Component.code, Component.mark, ComponentType.name,
                   ComponentType.weight_kg, ComponentType.concrete_grade,
                   maker.name.label("maker"), Project.name.label("project"))
            .join(ComponentType, Component.component_type_id == ComponentType.id)
            .join(Project, Component.project_id == Project.id)
            .outerjoin(maker, ComponentType.manufacturer_id == maker.id)
            .where(Component.id.in_(chunk))
        ):
            facts[row.id] = row
        # The last uncorrected cast and QC pass give the date and the inspector.
        for event in db.session.execute(
            select(Event.component_id, Event.action, Event.client_time,
                   Event.client_utc_offset_minutes, Event.server_time, User.name)
            .join(User, Event.user_id == User.id)
            .where(Event.component_id.in_(chunk), Event.action.in_(("cast", "qc_pass")),
                   ~select(corrections.id).where(corrections.corrects_event_id == Event.id)
                   .exists())
            .order_by(Event.id)
        ):
            if event.action == "cast":
                production[event.component_id] = _local_date(
                    event.client_time or event.server_time, event.client_utc_offset_minutes)
            else:
                inspector[event.component_id] = event.name
    contents = []
    for label in labels:
        row = facts[label.component_id]
        contents.append(LabelContent(
            url=label.url, code=row.code, version=label.version, mark=row.mark,
            component_type=row.name, manufacturer=row.maker or "", project=row.project,
            weight_kg=row.weight_kg, concrete_grade=row.concrete_grade or "",
            production_date=production.get(label.component_id),
            qc_inspector=inspector.get(label.component_id, "")))
    return contents


def issue_label(principal: Principal, component_id: int, reprint: bool = False,
                reason: str = "") -> Label:
    """Issue a component's label, or reprint it as a new version that revokes the old."""
    components = printable_components(principal, [component_id])
    label = issue_labels(principal, components, reprint=reprint, reason=reason)[0]
    db.session.commit()
    return label


def print_label(principal: Principal, component_id: int, layout: str) -> LabelContent:
    """Count a print of a component's current label (issuing version 1 the first time)."""
    components = printable_components(principal, [component_id])
    label = issue_labels(principal, components, layout=layout)[0]
    content = label_contents([label])[0]
    db.session.commit()
    return content


def print_sheet(principal: Principal, selection: dict, layout: str, limit: int,
                reprint: bool = False, reason: str = "") -> list[LabelContent]:
    """Count a print of the labels a sheet selection names, in order (issuing where needed)."""
    components = sheet_components(principal, selection, limit)
    labels = issue_labels(principal, components, reprint=reprint, reason=reason, layout=layout)
    contents = label_contents(labels)
    db.session.commit()
    return contents


# --- checking scanned labels -------------------------------------------------


def is_label_url(text: str) -> bool:
    """Tell whether a scanned text is a URL (which must then be a signed label)."""
    return text.strip().lower().startswith(("http://", "https://"))


@dataclass
class LabelCheck:
    """What a scanned label URL is: genuine, invalid or revoked, and what it names."""

    text: str
    status: str  # genuine | invalid | revoked | unknown (a genuine label out of scope)
    reason: str  # ok | malformed | unsigned | unknown-key | bad-signature | not-issued |
    # not-as-issued | revoked-key (invalid) | revoked | unknown
    version: int | None = None
    key_id: str | None = None
    component_id: int | None = None
    project_id: int | None = None
    label_id: int | None = None
    current_version: int | None = None
    revoked_at: datetime | None = None

    @property
    def genuine(self) -> bool:
        return self.status == "genuine"

    def problem(self) -> ApiProblem:
        """Return the problem a scan of this label is refused with."""
        if self.status == "revoked":
            return ApiProblem(
                "label-revoked",
                f"label version {self.version} was revoked; version {self.current_version} "
                "replaces it: remove the old label", label_version=self.version,
                current_version=self.current_version)
        return ApiProblem("label-invalid", _INVALID[self.reason], reason=self.reason)


def _participating(organization_id: int | None) -> tuple:
    if organization_id is None:
        return ()
    return (Component.project_id.in_(participant_project_ids(organization_id)),)


_INVALID = {
    "malformed": "this URL is not a label of this system",
    "unsigned": "the label carries no signature: it was not printed by this system",
    "unknown-key": "the label is signed with a key this system never published",
    "bad-signature": "the label's signature does not match its content: it is forged or altered",
    "not-issued": "the signature is genuine but no such label version was ever issued",
    "not-as-issued": "the signature is genuine but this is not the URL issued for this label "
                     "version: it was re-signed or altered",
    "revoked-key": "the label is signed with a key that was revoked: it is no longer valid; "
                   "the component needs a reprint",
}


def check_label_urls(texts: Iterable[str],
                     organization_id: int | None = None) -> dict[str, LabelCheck]:
    """Check scanned label URLs: signature, key, and the label record (one query for all).

    A label is genuine only when the URL is, byte for byte (surrounding white
    space aside), the one issued for the component's current label version,
    and its key is not revoked. With `organization_id`, only components of
    projects that organization takes part in are looked at: a genuine label of
    anyone else's component is then `unknown`, as an unknown code is, and tells
    nothing about it.
    """
    texts = list(dict.fromkeys(texts))
    keys, revoked = verifying_keys()
    verdicts = {}
    for text in texts:
        verdict = verify(text.strip(), keys)
        if verdict.reason == "unknown-key":
            keys, revoked = verifying_keys(refresh=True)
            verdict = verify(text.strip(), keys)
        verdicts[text] = verdict
    codes, pairs, named = set(), set(), {}
    for text, verdict in verdicts.items():
        identity = verdict.identity
        if identity is None:
            # Unsigned or mangled: still find the component it names, for the record.
            try:
                scanned = parse_scanned(text)
            except CodeError:
                continue
            identity = LabelIdentity(code=scanned.code, gtin=scanned.gtin, serial=scanned.serial)
        named[text] = identity
        if identity.gtin is not None:
            pairs.add((identity.gtin, identity.serial))
        elif identity.code is not None:
            codes.add(identity.code)
    components = {}
    labels: dict[int, list] = {}
    if codes or pairs:
        conditions = []
        if codes:
            conditions.append(Component.code.in_(codes))
        if pairs:
            conditions.append(tuple_(Component.gtin, Component.serial).in_(pairs))
        for row in db.session.execute(
            select(Component.id, Component.code, Component.gtin, Component.serial,
                   Component.project_id, Label.id.label("label_id"), Label.version,
                   Label.revoked_at, Label.url, Label.key_id,
                   LabelKey.revoked_at.label("key_revoked_at"))
            .outerjoin(Label, Label.component_id == Component.id)
            # Read with the label, not from memory: a revocation counts at once.
            .outerjoin(LabelKey, LabelKey.key_id == Label.key_id)
            .where(or_(*conditions), *_participating(organization_id))
        ):
            components[("code", row.code)] = row
            if row.gtin is not None:
                components[("gs1", row.gtin, row.serial)] = row
            if row.label_id is not None:
                labels.setdefault(row.id, []).append(row)
    checks = {}
    for text, verdict in verdicts.items():
        identity = named.get(text)
        component = None
        if identity is not None:
            component = components.get(("gs1", identity.gtin, identity.serial)
                                       if identity.gtin is not None else ("code", identity.code))
        check = LabelCheck(text, "invalid", verdict.reason, verdict.version, verdict.key_id,
                           component.id if component else None,
                           component.project_id if component else None)
        if check.reason == "malformed" and component is not None and "&s=" not in text \
                and "?s=" not in text:
            check.reason = "unsigned"
        if verdict.genuine and component is None and organization_id is not None:
            check.status, check.reason, check.version = "unknown", "unknown", None
        elif verdict.genuine:
            versions = labels.get(component.id, []) if component else []
            issued = next((r for r in versions if r.version == verdict.version), None)
            current = max((r.version for r in versions if r.revoked_at is None), default=None)
            check.current_version = current
            exact = issued is not None and text.strip() == issued.url
            if exact:
                check.label_id = issued.label_id
            if exact and issued.revoked_at is not None:
                check.status, check.reason = "revoked", "revoked"
                check.revoked_at = issued.revoked_at
            elif verdict.key_id in revoked or (exact and issued.key_revoked_at is not None):
                check.reason = "revoked-key"
            elif issued is None:
                check.reason = "not-issued"
            elif not exact:
                # A valid signature over another URL: signed with a retired or
                # stolen key, or for another host; only the issued URL counts.
                check.reason = "not-as-issued"
            else:
                check.status, check.reason = "genuine", "ok"
        checks[text] = check
    return checks
