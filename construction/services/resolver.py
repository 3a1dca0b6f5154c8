"""What the page a label's QR code opens shows: the component or load it names, and
whether the label is genuine; details only for a viewer of the project.

`construction/resolver.py` parses the address and answers with HTML or JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from construction.extensions import db
from construction.lifecycle_names import (
    ACTION_LABELS,
    ALERT_KIND_LABELS,
    LOAD_STATE_LABELS,
    STATE_LABELS,
    bilingual,
)
from construction.models import (
    Building,
    Component,
    ComponentType,
    Load,
    Organization,
    Project,
    Storey,
)
from construction.permissions import Principal, project_in_scope
from construction.services import loads
from construction.services.alerts import open_alert_kinds
from construction.services.components import component_events
from construction.services.keys import verifying_keys
from construction.services.labels import check_label_urls
from labels.codes import display
from labels.payload import LabelIdentity, verify

VERDICTS = {
    "genuine": ("正品标签", "Genuine label"),
    "revoked": ("已作废的标签", "Revoked label"),
    "invalid": ("伪造或被篡改的标签", "Forged or altered label"),
    # An invalid label whose signing key was revoked: a reprint, not the police.
    "revoked-key": ("签名密钥已吊销的标签", "Label signed with a revoked key"),
    "unverified": ("未签名的链接", "Unsigned link"),
}
_UNSIGNED = {"status": "unverified", "reason": "unsigned", "version": None}
_SIGNED_FIRST = ["genuine", "revoked", "invalid", "unknown", "unsigned"]
_SIGNED_INVALID = {"revoked-key", "not-as-issued", "not-issued"}


def _may_read(viewer: Principal | None, project_id: int) -> bool:
    return viewer is not None and project_in_scope(viewer, project_id)


def _label_verdict(scanned_urls: list[str] | None) -> dict[str, Any]:
    if not scanned_urls:
        return dict(_UNSIGNED)
    checks = check_label_urls(scanned_urls)
    # Behind a proxy the host seen here may differ from the printed one: the host whose
    # signature verified tells about the label; the other only fails its signature.
    best = min(checks.values(), key=lambda check: _SIGNED_FIRST.index(
        check.status if check.status != "invalid" or check.reason in _SIGNED_INVALID
        else "unsigned"))
    return {"status": best.status, "reason": best.reason, "version": best.version,
            "current_version": best.current_version}


def _component_condition(identity: LabelIdentity):
    if identity.code:
        return Component.code == identity.code
    return (Component.gtin == identity.gtin) & (Component.serial == identity.serial)


def component_page(identity: LabelIdentity, scanned_urls: list[str] | None,
                   viewer: Principal | None, script_root: str = "") -> dict[str, Any] | None:
    """Return what a component label's page shows, or None when it names no component.

    `scanned_urls` are the signed addresses the label may have been printed
    with (None when unsigned); `viewer` is whoever signed in, if anyone.
    """
    row = db.session.execute(
        select(Component, ComponentType, Project, Organization.name)
        .join(ComponentType, Component.component_type_id == ComponentType.id)
        .join(Project, Component.project_id == Project.id)
        .outerjoin(Organization, ComponentType.manufacturer_id == Organization.id)
        .where(_component_condition(identity))).first()
    if row is None:
        return None
    component, component_type, project, maker = row
    verdict = _label_verdict(scanned_urls)
    title = VERDICTS.get(verdict["reason"]) or VERDICTS[verdict["status"]]
    zh, en = bilingual(STATE_LABELS, component.state)
    view: dict[str, Any] = {
        "label": {**verdict, "title_zh": title[0], "title_en": title[1]},
        "component": {"type": component_type.name, "category": component_type.category,
                      "manufacturer": maker, "project": project.name,
                      "state": component.state, "state_zh": zh, "state_en": en,
                      "on_hold": component.on_hold, "damaged": component.damaged},
        "detail": None,
    }
    if _may_read(viewer, project.id):
        view["detail"] = _component_detail(component, component_type, script_root)
    return view


def _component_detail(component: Component, component_type: ComponentType,
                      script_root: str) -> dict[str, Any]:
    alerts = list(open_alert_kinds(component.id))
    storey = db.session.execute(
        select(Storey.name, Building.name).join(Building, Storey.building_id == Building.id)
        .where(Storey.id == component.storey_id)).first() if component.storey_id else None
    return {
        "id": component.id, "code": component.code, "display_code": display(component.code),
        "mark": component.mark, "gtin": component.gtin, "serial": component.serial,
        "building": storey[1] if storey else None, "storey": storey[0] if storey else None,
        "weight_kg": component_type.weight_kg, "concrete_grade": component_type.concrete_grade,
        "ncr_open": component.ncr_open, "open_alerts": alerts,
        "open_alerts_zh": [bilingual(ALERT_KIND_LABELS, kind)[0] for kind in alerts],
        "open_alerts_en": [bilingual(ALERT_KIND_LABELS, kind)[1] for kind in alerts],
        "certificate_url": f"{script_root}/api/v1/components/{component.id}/certificate.pdf",
        "events": [{"action": event.action, "to_state": event.to_state, "user": user,
                    "time": (event.client_time or event.server_time).isoformat(),
                    **_named("action", ACTION_LABELS, event.action),
                    **_named("to_state", STATE_LABELS, event.to_state)}
                   for event, user in component_events(component.id)[-20:]],
    }


def _named(field: str, labels: dict, name: str | None) -> dict[str, str | None]:
    """A name's words in Chinese and English, as `{field}_zh` and `{field}_en`."""
    zh, en = bilingual(labels, name) if name else (None, None)
    return {f"{field}_zh": zh, f"{field}_en": en}


def _load_verdict(scanned_urls: list[str] | None, load: Load) -> dict[str, Any]:
    if not scanned_urls:
        return dict(_UNSIGNED)
    keys, revoked = verifying_keys()
    # As for components: of the URLs the request may have been printed as, the best judged.
    judged = [(loads.judge_label(url, verdict, load), verdict) for url, verdict in
              ((url, verify(url, keys, revoked)) for url in scanned_urls)]
    # The host whose signature verified tells about the label (see _label_verdict).
    (status, reason), verdict = min(judged, key=lambda pair: (
        _SIGNED_FIRST.index(pair[0][0]), not pair[1].genuine))
    return {"status": status, "reason": reason, "version": verdict.version,
            "current_version": load.label_version}


def load_page(identity: LabelIdentity, scanned_urls: list[str] | None,
              viewer: Principal | None) -> dict[str, Any] | None:
    """Return what a load label's page shows, or None when it names no load."""
    condition = Load.sscc == identity.sscc if identity.sscc else Load.code == identity.load
    load = db.session.scalar(select(Load).where(condition))
    if load is None:
        return None
    project = db.session.get(Project, load.project_id)
    verdict = _load_verdict(scanned_urls, load)
    zh, en = bilingual(LOAD_STATE_LABELS, load.state)
    view = loads.load_view(load)
    public = {key: view[key] for key in ("code", "display_code", "sscc", "sscc_text", "state",
                                         "piece_count", "weight_kg", "vehicle",
                                         "planned_arrival_at")}
    result: dict[str, Any] = {
        "label": {**verdict, "title_zh": VERDICTS[verdict["status"]][0],
                  "title_en": VERDICTS[verdict["status"]][1]},
        "load": {**public, "project": project.name, "state_zh": zh, "state_en": en},
        "detail": None,
    }
    if _may_read(viewer, project.id):
        result["detail"] = {key: view[key] for key in ("id", "next_actions", "driver",
                                                       "loaded_at", "departed_at",
                                                       "arrived_at", "received_at")}
        words = {state: bilingual(STATE_LABELS, state)
                 for state in {item["state"] for item in view["items"]}}
        result["detail"]["items"] = [
            {**item, "state_zh": words[item["state"]][0], "state_en": words[item["state"]][1]}
            for item in view["items"]]
    return result
