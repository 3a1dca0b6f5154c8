"""The component lifecycle: states, actions, who may act, guards and gates.

Pure code: no Flask, no database. `apply` is the single rule book used by
scans, batches, corrections and `flask ledger check` alike.

Gates are the records an action needs (a strength its pour reached, a checklist
passed). The scan service looks the records up and writes what it found into
the event, as `data.gates[<gate name>]`; a gate's condition is checked on that
evidence alone, so replaying the ledger checks every gate again without the
records. An event without evidence for a gate recorded no requirement: its type
stated no strength, had no checklist for that stage, or it predates the gates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace

STATES = (
    "planned", "cast", "demoulded", "qc_passed", "stored", "loaded", "in_transit",
    "delivered", "accepted_on_site", "installed", "connected", "accepted",
    "rejected", "scrapped",
)

# A load (one truck trip) has a small lifecycle of its own, driven by load scans.
LOAD_STATES = ("open", "loaded", "in_transit", "arrived", "received", "rejected")
# Where a component in each state is, as site readiness tells it.
PLACE_OF_STATE = {
    "planned": "not_cast", "cast": "in_factory", "demoulded": "in_factory",
    "qc_passed": "in_factory", "stored": "in_yard", "loaded": "loaded",
    "in_transit": "in_transit", "delivered": "on_site", "accepted_on_site": "on_site",
    "installed": "installed", "connected": "installed", "accepted": "installed",
    "rejected": "returned", "scrapped": "scrapped"}
PLACES = ("not_cast", "in_factory", "in_yard", "loaded", "in_transit", "on_site", "installed",
          "returned", "scrapped")

ROLES = ("admin", "project_manager", "factory_worker", "qc_inspector", "site_supervisor",
         "regulator")


@dataclass(frozen=True)
class Status:
    """A component's state with its flags."""

    state: str = "planned"
    on_hold: bool = False
    damaged: bool = False
    ncr_open: bool = False


@dataclass(frozen=True)
class Gate:
    """A record an action needs: a strength its pour reached, or a checklist passed."""

    name: str
    kind: str  # "strength" or "inspection"
    subject: str  # the strength ("stripping", "delivery") or the checklist's stage
    problem: str  # the problem type when the gate does not hold

    def unmet(self, evidence: dict | None) -> tuple[str, dict] | None:
        """Return why the evidence does not satisfy the gate (and its figures), or None."""
        if not isinstance(evidence, dict) or evidence.get("override_id") is not None:
            return None
        if self.kind == "strength":
            required, measured = evidence.get("required_mpa"), evidence.get("measured_mpa")
            if required is None or (measured is not None and measured >= required):
                return None
            pour = evidence.get("pour_id")
            where = f"pour {pour}" if pour is not None else "no pour recorded"
            best = f"{measured} MPa" if measured is not None else "no result"
            return (f"the {self.subject} strength {required} MPa is not reached "
                    f"({where}: best {best})",
                    {"gate": self.name, "required_mpa": required, "measured_mpa": measured,
                     "pour_id": pour})
        if evidence.get("passed"):
            return None
        inspection = evidence.get("inspection_id")
        found = f"inspection {inspection} failed" if inspection is not None else "none recorded"
        return (f"a passed {self.subject} inspection is needed ({found})",
                {"gate": self.name, "stage": self.subject, "inspection_id": inspection})


# A checklist's stages, in the lifecycle's order.
CHECKLIST_STAGES = ("pre_pour", "post_demould", "pre_delivery", "site_acceptance")
# The inspection a component in a state is most likely due (what the scan page offers first).
STAGE_FOR_STATE = {
    "planned": "pre_pour", "cast": "post_demould", "demoulded": "post_demould",
    "qc_passed": "pre_delivery", "stored": "pre_delivery", "loaded": "pre_delivery",
    "in_transit": "site_acceptance", "delivered": "site_acceptance",
}

PRE_POUR_INSPECTION = Gate("pre_pour_inspection", "inspection", "pre_pour",
                           "inspection-required")
STRIPPING_STRENGTH = Gate("stripping_strength", "strength", "stripping",
                          "strength-not-reached")
POST_DEMOULD_INSPECTION = Gate("post_demould_inspection", "inspection", "post_demould",
                               "inspection-required")
DELIVERY_STRENGTH = Gate("delivery_strength", "strength", "delivery", "strength-not-reached")
SITE_ACCEPTANCE_INSPECTION = Gate("site_acceptance_inspection", "inspection",
                                  "site_acceptance", "inspection-required")


@dataclass(frozen=True)
class Action:
    name: str
    roles: frozenset[str]
    from_states: frozenset[str]
    to_state: str | None  # None keeps the state (flag actions)
    blocked_by_hold: bool = False
    blocked_by_defect: bool = False  # damaged or an open NCR
    needs_record: bool = False  # data.record must name the supporting record
    gates: tuple[Gate, ...] = ()  # records checked on the evidence the event carries
    biz_step: str = ""
    disposition: str = ""


_PRE_INSTALL = frozenset({"planned", "cast", "demoulded", "qc_passed", "stored", "loaded",
                          "in_transit", "delivered", "accepted_on_site", "rejected"})
_PHYSICAL = frozenset(STATES) - {"planned", "scrapped"}
_ALIVE = frozenset(STATES) - {"scrapped"}
_WORKER = frozenset({"factory_worker"})
_QC = frozenset({"qc_inspector"})
_SITE = frozenset({"site_supervisor"})
_NONE: frozenset[str] = frozenset()


def _a(name, roles, from_states, to_state, **kw) -> Action:
    return Action(name, frozenset(roles) | {"admin", "project_manager"}, frozenset(from_states),
                  to_state, **kw)


ACTIONS: dict[str, Action] = {a.name: a for a in (
    _a("cast", _WORKER, {"planned"}, "cast", blocked_by_hold=True,
       gates=(PRE_POUR_INSPECTION,), biz_step="commissioning", disposition="active"),
    _a("demould", _WORKER, {"cast"}, "demoulded", blocked_by_hold=True,
       gates=(STRIPPING_STRENGTH,), biz_step="assembling", disposition="in_progress"),
    _a("qc_pass", _QC, {"demoulded"}, "qc_passed", blocked_by_hold=True, blocked_by_defect=True,
       gates=(POST_DEMOULD_INSPECTION,), biz_step="inspecting", disposition="conformant"),
    _a("qc_fail", _QC, {"demoulded", "qc_passed", "stored"}, None,
       biz_step="inspecting", disposition="non_conformant"),
    _a("store", _WORKER, {"qc_passed", "rejected"}, "stored", blocked_by_hold=True,
       biz_step="storing", disposition="in_progress"),
    _a("load", _WORKER, {"qc_passed", "stored"}, "loaded", blocked_by_hold=True,
       blocked_by_defect=True, gates=(DELIVERY_STRENGTH,), biz_step="loading",
       disposition="in_progress"),
    _a("depart", _WORKER, {"loaded"}, "in_transit", blocked_by_hold=True,
       blocked_by_defect=True, gates=(DELIVERY_STRENGTH,), biz_step="departing",
       disposition="in_transit"),
    _a("arrive", _SITE, {"in_transit"}, "delivered",
       biz_step="arriving", disposition="in_progress"),
    _a("accept_delivery", _SITE, {"delivered"}, "accepted_on_site", blocked_by_hold=True,
       blocked_by_defect=True, gates=(SITE_ACCEPTANCE_INSPECTION,),
       biz_step="receiving", disposition="in_progress"),
    _a("reject_delivery", _SITE, {"delivered"}, "rejected",
       biz_step="receiving", disposition="returned"),
    _a("install", _SITE, {"accepted_on_site"}, "installed", blocked_by_hold=True,
       blocked_by_defect=True, biz_step="installing", disposition="in_progress"),
    _a("connect", _SITE, {"installed"}, "connected", blocked_by_hold=True,
       blocked_by_defect=True, needs_record=True, biz_step="assembling",
       disposition="in_progress"),
    _a("accept", _SITE, {"connected"}, "accepted", blocked_by_hold=True, blocked_by_defect=True,
       biz_step="accepting", disposition="active"),
    # Site supervisors (监理) may also withhold a component from use.
    _a("hold", _QC | _SITE, _ALIVE, None, biz_step="holding", disposition="non_sellable_other"),
    _a("release", _QC, _ALIVE, None, biz_step="inspecting", disposition="active"),
    _a("report_damage", _SITE, _PHYSICAL, None, biz_step="inspecting", disposition="damaged"),
    _a("repair", _QC, _PHYSICAL, None, needs_record=True,
       biz_step="repairing", disposition="conformant"),
    _a("scrap", _NONE, _PRE_INSTALL, "scrapped",
       biz_step="destroying", disposition="destroyed"),
    _a("correct", _NONE, set(STATES), None, biz_step="void_shipping", disposition="unknown"),
)}

RECORDED_ACTIONS = tuple(name for name in ACTIONS if name != "correct")
GATES: dict[str, Gate] = {gate.name: gate for spec in ACTIONS.values() for gate in spec.gates}


class TransitionError(Exception):
    """An action that the lifecycle refuses from the given status."""

    def __init__(self, kind: str, detail: str, status: Status, extra: dict | None = None):
        super().__init__(detail)
        # "invalid-transition", "action-blocked", "record-required" or a gate's problem
        self.kind = kind
        self.detail = detail
        self.status = status
        self.extra = extra or {}


def role_may(role: str, action: str) -> bool:
    """Tell whether `role` may perform `action` by default."""
    spec = ACTIONS.get(action)
    return spec is not None and role in spec.roles


def role_actions(role: str) -> list[str]:
    """List the actions `role` may perform by default."""
    return [name for name, spec in ACTIONS.items() if role in spec.roles]


def _refusal(spec: Action, status: Status,
             data: dict | None) -> tuple[str, str] | tuple[str, str, dict] | None:
    if status.state not in spec.from_states:
        return "invalid-transition", f"'{spec.name}' is not allowed from state '{status.state}'"
    if spec.blocked_by_hold and status.on_hold:
        return "action-blocked", f"'{spec.name}' is blocked: the component is on hold"
    if spec.blocked_by_defect and status.damaged:
        return "action-blocked", f"'{spec.name}' is blocked: the component is damaged"
    if spec.blocked_by_defect and status.ncr_open:
        return "action-blocked", f"'{spec.name}' is blocked: a non-conformance is open"
    if spec.name == "hold" and status.on_hold:
        return "invalid-transition", "the component is already on hold"
    if spec.name == "release" and not status.on_hold:
        return "invalid-transition", "the component is not on hold"
    if spec.name == "report_damage" and status.damaged:
        return "invalid-transition", "damage is already reported"
    if spec.name == "repair" and not (status.damaged or status.ncr_open):
        return "invalid-transition", "there is no damage or open non-conformance to repair"
    if spec.needs_record and not _has_record(data):
        return "record-required", f"'{spec.name}' needs data.record naming the supporting record"
    for gate in spec.gates:
        unmet = gate.unmet(gate_evidence(data, gate.name))
        if unmet is not None:
            return gate.problem, f"'{spec.name}' is refused: {unmet[0]}", unmet[1]
    return None


def gate_evidence(data: dict | None, gate: str) -> dict | None:
    """Return the evidence an event's data carries for a gate, or None."""
    gates = (data or {}).get("gates")
    return gates.get(gate) if isinstance(gates, dict) else None


def _has_record(data: dict | None) -> bool:
    record = (data or {}).get("record")
    return isinstance(record, str) and bool(record.strip())


def allowed_actions(status: Status) -> list[str]:
    """List the recorded actions the lifecycle allows from `status` (any role)."""
    return list(_allowed(status))


@functools.lru_cache(maxsize=512)
def _allowed(status: Status) -> tuple[str, ...]:
    # A handful of statuses occur: every scan answer lists them, so they are kept.
    probe = {"record": "-"}
    return tuple(name for name in RECORDED_ACTIONS
                 if _refusal(ACTIONS[name], status, probe) is None)


def apply(status: Status, action: str, data: dict | None = None) -> Status:
    """Return the status after `action`, or raise TransitionError."""
    spec = ACTIONS.get(action)
    if spec is None or action == "correct":
        raise TransitionError("invalid-transition", f"unknown action '{action}'", status)
    refusal = _refusal(spec, status, data)
    if refusal:
        raise TransitionError(*refusal[:2], status, *refusal[2:])
    new = status if spec.to_state is None else replace(status, state=spec.to_state)
    if action == "qc_fail":
        new = replace(new, ncr_open=True)
    elif action == "hold":
        new = replace(new, on_hold=True)
    elif action == "release":
        new = replace(new, on_hold=False)
    elif action == "report_damage":
        new = replace(new, damaged=True)
    elif action == "repair":
        new = replace(new, damaged=False, ncr_open=False)
    return new


@dataclass(frozen=True)
class LedgerEntry:
    """The parts of a stored event that replay needs."""

    id: int
    action: str
    data: dict | None
    corrects_event_id: int | None


def replay(entries: Iterable[LedgerEntry]) -> Status:
    """Recompute a status from events in order, skipping corrected ones.

    Raises TransitionError when the remaining events do not form a valid history.
    """
    entries = list(entries)
    voided = {e.corrects_event_id for e in entries if e.corrects_event_id is not None}
    status = Status()
    for entry in entries:
        if entry.action == "correct" or entry.id in voided:
            continue
        status = apply(status, entry.action, entry.data)
    return status
