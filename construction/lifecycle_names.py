"""The lifecycle's names in words: states, actions, roles, load states, checklist
stages, gates, NCR categories and alert kinds, translated.

The one place a state, an action, a stage, a gate, an NCR category or an alert kind
gets its label. The pages send these to their scripts (`pages.page_config`), and the
label pages a QR code opens (`resolver.py`) show them in Chinese and English
at once. Labels are lazy Flask-Babel strings: they take the request's language
when shown.
"""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _pl
from flask_babel.speaklater import LazyString

STATE_LABELS: dict[str, LazyString] = {
    "planned": _l("Planned"), "cast": _l("Cast"), "demoulded": _l("Demoulded"),
    "qc_passed": _l("QC passed"), "stored": _l("In yard"), "loaded": _l("Loaded"),
    "in_transit": _l("In transit"), "delivered": _l("Delivered"),
    "accepted_on_site": _l("Accepted on site"), "installed": _l("Installed"),
    "connected": _l("Connected"), "accepted": _l("Accepted"), "rejected": _l("Rejected"),
    "scrapped": _l("Scrapped"),
}

# Action names carry a context: the verb "Cast" is not the state "Cast".
ACTION_LABELS: dict[str, LazyString] = {
    "cast": _pl("action", "Cast"),
    "demould": _pl("action", "Demould"),
    "qc_pass": _pl("action", "QC pass"),
    "qc_fail": _pl("action", "QC fail"),
    "store": _pl("action", "Put in yard"),
    "load": _pl("action", "Load"),
    "depart": _pl("action", "Ship"),
    "arrive": _pl("action", "Arrived"),
    "accept_delivery": _pl("action", "Accept delivery"),
    "reject_delivery": _pl("action", "Reject delivery"),
    "install": _pl("action", "Install"),
    "connect": _pl("action", "Connect"),
    "accept": _pl("action", "Accept"),
    "hold": _pl("action", "Hold"),
    "release": _pl("action", "Release hold"),
    "report_damage": _pl("action", "Report damage"),
    "repair": _pl("action", "Repaired"),
    "scrap": _pl("action", "Scrap"),
    "correct": _pl("action", "Correction"),
}

ROLE_LABELS: dict[str, LazyString] = {
    "admin": _l("Administrator"), "project_manager": _l("Project manager"),
    "factory_worker": _l("Factory worker"), "qc_inspector": _l("QC inspector"),
    "site_supervisor": _l("Site supervisor"), "regulator": _l("Regulator"),
}

# A load turned away at the gate is refused (拒收); a component sent back is "Rejected" (退场).
LOAD_STATE_LABELS: dict[str, LazyString] = {
    "open": _l("Being loaded"), "loaded": _l("Loaded"), "in_transit": _l("In transit"),
    "arrived": _l("Arrived"), "received": _l("Received"), "rejected": _pl("load", "Rejected"),
}

# A checklist's stage (`lifecycle.CHECKLIST_STAGES`), in the order of the lifecycle.
STAGE_LABELS: dict[str, LazyString] = {
    "pre_pour": _l("Pre-pour inspection"), "post_demould": _l("Post-demould inspection"),
    "pre_delivery": _l("Pre-delivery inspection"),
    "site_acceptance": _l("Site acceptance inspection"),
}

# An inspection gate is named by the checklist it asks for.
GATE_LABELS: dict[str, LazyString] = {
    "pre_pour_inspection": STAGE_LABELS["pre_pour"],
    "stripping_strength": _l("Stripping strength"),
    "post_demould_inspection": STAGE_LABELS["post_demould"],
    "delivery_strength": _l("Delivery strength"),
    "site_acceptance_inspection": STAGE_LABELS["site_acceptance"],
}

# An NCR's category is the one the failed checklist item names (free text, up to 40
# characters): these are the usual ones, those of the demo's checklists, with `inspection`
# for an item that names none and `uncategorised` for an NCR recorded without one (the
# quality report). A category not listed here is shown as it was written.
NCR_CATEGORY_LABELS: dict[str, LazyString] = {
    "reinforcement": _pl("NCR category", "Reinforcement"),
    "embedded_parts": _pl("NCR category", "Embedded parts"),
    "cover": _pl("NCR category", "Concrete cover"),
    "mould": _pl("NCR category", "Mould"),
    "dimension": _pl("NCR category", "Dimensions"),
    "surface": _pl("NCR category", "Surface"),
    "record": _pl("NCR category", "Records and labels"),
    "damage": _pl("NCR category", "Damage"),
    "inspection": _pl("NCR category", "Inspection"),
    "uncategorised": _pl("NCR category", "Uncategorised"),
}

# What an alert (`services.alerts.ALERT_KINDS`) warns of, in a few words.
ALERT_KIND_LABELS: dict[str, LazyString] = {
    "copy-impossible-travel": _l("Copied label: seen at two places too far apart"),
    "copy-installed-elsewhere": _l("Copied label: an installed component scanned elsewhere"),
    "copy-too-many-scans": _l("Copied label: scanned too often"),
    "label-invalid": _l("Forged or altered label"),
    "label-revoked": _l("Revoked label scanned"),
}


def in_language(labels: dict[str, LazyString]) -> dict[str, str]:
    """Return the labels as plain text in the request's language."""
    return {name: str(label) for name, label in labels.items()}


def bilingual(labels: dict[str, LazyString], name: str) -> tuple[str, str]:
    """Return a name's label in Chinese and in English (the name itself when it has none)."""
    label = labels.get(name)
    if label is None:
        return name, name
    with force_locale("zh_CN"):
        chinese = str(label)
    with force_locale("en"):
        return chinese, str(label)
