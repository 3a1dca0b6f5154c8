"""Alerts: copied, forged and revoked labels, flagged on components for people to review.

Nothing is held or refused on a suspicion alone: an alert is a flag that a
project manager, QC inspector or regulator looks at and closes as confirmed
or dismissed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from construction import metrics
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import Alert, Component, Event, LabelSighting, Project, SecurityEvent
from construction.pagination import Page, paginate
from construction.permissions import Principal, in_scope, readable_or_404, require
from construction.rate_limits import security_event_refusal
from vision.evidence import distance_km

ALERT_KINDS = {
    "copy-impossible-travel": "the same label was seen at two places further apart than a "
                              "truck could travel in the time between",
    "copy-installed-elsewhere": "the label of an installed component was scanned away from "
                                "its site",
    "copy-too-many-scans": "the label was scanned more often than its lifecycle explains",
    "label-invalid": "a forged, altered or unissued label, or one signed with a revoked key, "
                     "naming this component was scanned",
    "label-revoked": "a revoked label version of this component was scanned",
}
INSTALLED_STATES = frozenset({"installed", "connected", "accepted"})


def coordinates(location: dict | None) -> tuple[float, float] | None:
    """Read latitude and longitude from a scan's location, or None."""
    if not isinstance(location, dict):
        return None
    latitude = location.get("latitude", location.get("lat"))
    longitude = location.get("longitude", location.get("lon", location.get("lng")))
    if isinstance(latitude, bool) or isinstance(longitude, bool):
        return None
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return float(latitude), float(longitude)


def raise_alert(kind: str, component_id: int | None, project_id: int | None,
                label_id: int | None, detail: dict[str, Any], now: datetime) -> None:
    """Open an alert, or count one more occurrence of the same open alert."""
    open_key = f"{kind}:{component_id}" if component_id is not None else None
    if kind.startswith("copy-"):
        metrics.count_on_commit(metrics.COPY_ALERTS, kind)
    existing = None
    if open_key is not None:
        existing = db.session.scalar(select(Alert).where(Alert.open_key == open_key))
    if existing is not None:
        existing.occurrences += 1
        existing.last_seen_at = now
        existing.detail = detail
        existing.label_id = label_id or existing.label_id
        return
    db.session.add(Alert(kind=kind, open_key=open_key, project_id=project_id,
                         component_id=component_id, label_id=label_id, detail=detail,
                         occurrences=1, first_seen_at=now, last_seen_at=now))


@dataclass
class LabelScan:
    """A scan of a genuine label, as the copy checks see it."""

    label_id: int
    component_id: int
    project_id: int
    state_before: str
    location: dict | None
    outcome: str  # accepted | refused
    user_id: int
    client_event_id: str


def note_label_scans(scans: list[LabelScan], now: datetime) -> None:
    """Record where genuine labels were seen and flag what looks like a copy.

    Runs inside the scan's transaction, after its events are written.
    """
    if not scans:
        return
    config = current_app.config
    label_ids = list({s.label_id for s in scans})
    component_ids = list({s.component_id for s in scans})
    seen = dict(db.session.execute(
        select(LabelSighting.label_id, func.count())
        .where(LabelSighting.label_id.in_(label_ids)).group_by(LabelSighting.label_id)).all())
    last_located = {
        row.label_id: (row.seen_at, (row.latitude, row.longitude))
        for row in db.session.execute(
            select(LabelSighting.label_id, LabelSighting.seen_at, LabelSighting.latitude,
                   LabelSighting.longitude)
            .where(LabelSighting.id.in_(
                select(func.max(LabelSighting.id))
                .where(LabelSighting.label_id.in_(label_ids),
                       LabelSighting.latitude.is_not(None))
                .group_by(LabelSighting.label_id))))
    }
    events = dict(db.session.execute(
        select(Event.component_id, func.count()).where(Event.component_id.in_(component_ids))
        .group_by(Event.component_id)).all())
    sites = {row.id: (row.latitude, row.longitude) for row in db.session.execute(
        select(Project.id, Project.latitude, Project.longitude)
        .where(Project.id.in_({s.project_id for s in scans})))}

    for scan in scans:
        point = coordinates(scan.location)
        db.session.add(LabelSighting(label_id=scan.label_id, user_id=scan.user_id, seen_at=now,
                                     latitude=point[0] if point else None,
                                     longitude=point[1] if point else None,
                                     outcome=scan.outcome))
        seen[scan.label_id] = seen.get(scan.label_id, 0) + 1
        raise_ = _raiser(scan, now)
        explained = events.get(scan.component_id, 0) + config["COPY_SCAN_SLACK"]
        if seen[scan.label_id] > explained:
            raise_("copy-too-many-scans", scans_seen=seen[scan.label_id],
                   events_recorded=events.get(scan.component_id, 0))
        if point is None:
            continue
        earlier = last_located.get(scan.label_id)
        if earlier is not None:
            then, where = earlier
            km = distance_km(where, point)
            hours = max((now - then).total_seconds() / 3600, 1 / 3600)
            if km > config["COPY_GPS_TOLERANCE_KM"] and km / hours > config["COPY_MAX_SPEED_KMH"]:
                raise_("copy-impossible-travel", distance_km=round(km, 1),
                       hours=round(hours, 3), speed_kmh=round(km / hours),
                       earlier={"at": then.isoformat(), "latitude": where[0],
                                "longitude": where[1]},
                       now={"latitude": point[0], "longitude": point[1]})
        last_located[scan.label_id] = (now, point)
        site = sites.get(scan.project_id)
        if scan.state_before in INSTALLED_STATES and site and None not in site:
            km = distance_km(site, point)
            if km > config["COPY_SITE_RADIUS_KM"]:
                raise_("copy-installed-elsewhere", distance_from_site_km=round(km, 1),
                       state=scan.state_before,
                       seen={"latitude": point[0], "longitude": point[1]})


def _raiser(scan: LabelScan, now: datetime):
    def raise_(kind: str, **detail: Any) -> None:
        detail.update(user_id=scan.user_id, client_event_id=scan.client_event_id,
                      outcome=scan.outcome)
        raise_alert(kind, scan.component_id, scan.project_id, scan.label_id, detail, now)
    return raise_


def record_security_events(principal: Principal, refused: list[tuple[Any, Any]],
                           now: datetime,
                           allowance: dict[str, ApiProblem | None] | None = None,
                           ) -> dict[str, ApiProblem]:
    """Record refused labels (each a (ScanItem, LabelCheck)); a retry records nothing new.

    Each new security event counts against the user's RATE_LIMIT_SECURITY_EVENTS;
    once it is spent, nothing is recorded and the scans' client event ids come
    back with a 429 problem each. `allowance` remembers what was counted, for a
    transaction tried again.
    """
    if not refused:
        return {}
    allowance = {} if allowance is None else allowance
    over_limit: dict[str, ApiProblem] = {}
    already = set(db.session.scalars(
        select(SecurityEvent.client_event_id).where(
            SecurityEvent.user_id == principal.user_id,
            SecurityEvent.client_event_id.in_({item.client_event_id for item, _ in refused}))))
    for item, check in refused:
        if item.client_event_id in already:
            continue
        already.add(item.client_event_id)
        if item.client_event_id not in allowance:
            allowance[item.client_event_id] = security_event_refusal(principal.user_id)
        if allowance[item.client_event_id] is not None:
            over_limit[item.client_event_id] = allowance[item.client_event_id]
            continue
        kind = "label-revoked" if check.status == "revoked" else "label-invalid"
        metrics.count_on_commit(metrics.LABEL_REFUSALS, kind)
        db.session.add(SecurityEvent(
            kind=kind,
            reason=check.reason, scanned_text=item.code[:500], component_id=check.component_id,
            label_id=check.label_id, user_id=principal.user_id,
            organization_id=principal.organization_id, client_event_id=item.client_event_id,
            location=item.location, created_at=now))
        if check.component_id is not None:
            raise_alert(kind, check.component_id, check.project_id, check.label_id,
                        {"reason": check.reason, "scanned_text": item.code[:500],
                         "user_id": principal.user_id, "client_event_id": item.client_event_id},
                        now)
    return over_limit


# --- reading and closing -------------------------------------------------------


@dataclass
class AlertFilters:
    kind: str | None = None
    status: str | None = None
    project_id: int | None = None
    component_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_alerts(principal: Principal, filters: AlertFilters, page: int,
                per_page: int) -> Page:
    """List the alerts the principal may read, newest activity first."""
    query = in_scope(select(Alert), principal, Alert.project_id)
    if filters.kind:
        query = query.where(Alert.kind == filters.kind)
    if filters.status:
        query = query.where(Alert.status == filters.status)
    if filters.project_id is not None:
        query = query.where(Alert.project_id == filters.project_id)
    if filters.component_id is not None:
        query = query.where(Alert.component_id == filters.component_id)
    if filters.since is not None:
        query = query.where(Alert.last_seen_at >= filters.since)
    if filters.until is not None:
        query = query.where(Alert.last_seen_at < filters.until)
    return paginate(query.order_by(Alert.last_seen_at.desc(), Alert.id.desc()), page, per_page)


def open_alert_kinds(component_id: int) -> list[str]:
    """List the kinds of a component's open alerts (its flags), oldest first."""
    return list(db.session.scalars(
        select(Alert.kind).where(Alert.component_id == component_id, Alert.status == "open")
        .order_by(Alert.id)))


def alert_for_reading(principal: Principal, alert_id: int) -> Alert:
    """Return an alert the principal may read, or raise 404."""
    return readable_or_404(principal, Alert, alert_id, "alert")


def close_alert(principal: Principal, alert_id: int, status: str, note: str) -> Alert:
    """Close an alert as confirmed or dismissed; closing it the same way again changes nothing."""
    require(principal, "alert.close")
    alert = alert_for_reading(principal, alert_id)
    if alert.status != "open":
        if alert.status == status:
            return alert
        raise ApiProblem("conflict", f"alert {alert_id} is already {alert.status}",
                         current_status=alert.status)
    alert.status = status
    alert.open_key = None
    alert.closed_at = datetime.now(UTC)
    alert.closed_by_user_id = principal.user_id
    alert.close_note = note
    db.session.commit()
    return alert


def list_security_events(principal: Principal, page: int,
                         per_page: int) -> Page:
    """List refused labels: all for admins, those naming a visible component for others."""
    query = select(SecurityEvent)
    if not principal.is_admin:
        query = query.where(SecurityEvent.component_id.in_(
            in_scope(select(Component.id), principal, Component.project_id)))
    return paginate(query.order_by(SecurityEvent.id.desc()), page, per_page)
