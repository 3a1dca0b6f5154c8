"""A load's papers: its label (PNG or PDF) and its delivery note."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app

from construction.errors import ApiProblem
from construction.extensions import db, write_lock
from construction.models import Load
from construction.permissions import Principal, may
from construction.services import loads
from construction.services.keys import publish_signing_key
from construction.services.labels import label_font
from labels.codes import display
from labels.delivery_note import DeliveryNote, NoteLine, render_delivery_note
from labels.render import LOAD_LAYOUTS, LoadLabelContent, render_pdf, render_png


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    zone = timezone(timedelta(minutes=current_app.config["REPORT_UTC_OFFSET_MINUTES"]))
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def label_content(load: Load) -> LoadLabelContent:
    """Return what a load's label prints."""
    view = loads.load_view(load)
    facts = loads.load_facts(load)
    return LoadLabelContent(
        url=view["label_url"], heading=view["sscc_text"] or display(load.code),
        version=load.label_version, project=facts["project"], vehicle=load.vehicle,
        driver=load.driver, piece_count=view["piece_count"], weight_kg=view["weight_kg"],
        load_code=display(load.code), planned_departure=_local(load.planned_departure_at))


def load_label(load: Load, kind: str, layout_name: str, dpi: int) -> bytes:
    """Return a load's label as PNG or PDF in a load layout."""
    publish_signing_key()  # a rotated key is published before it is printed
    loads.issue_label_url(load)
    content = label_content(load)
    layout = LOAD_LAYOUTS[layout_name]
    if kind == "png":
        return render_png(content, layout, dpi=dpi, font=label_font())
    return render_pdf([content], layout, title=f"Load {load.code}", font=label_font())


def print_load_label(principal: Principal, load_id: int, kind: str, layout_name: str,
                     dpi: int) -> tuple[str, bytes]:
    """Return a load's code and its label, publishing a rotated signing key first (committed).

    Publishing is a write even when the label is asked for with GET, so the
    write lock is taken from the start.
    """
    with write_lock():
        load = loads.printable_load(principal, load_id)
        if loads.label_key_revoked(load) and not may(principal, "load.build"):
            # Printing it would sign a new version: a change, for those who build loads.
            raise ApiProblem("conflict", f"load {load.code}'s label is signed with a revoked "
                             f"key: someone who builds loads prints it again, which signs "
                             f"version {load.label_version + 1}")
        body = load_label(load, kind, layout_name, dpi)
        code = load.code
        db.session.commit()
    return code, body


def delivery_note(load: Load) -> bytes:
    """Return a load's delivery note (components in unloading order) as PDF."""
    view = loads.load_view(load)
    facts = loads.load_facts(load)
    lines = tuple(NoteLine(item["code"], item["mark"], item["component_type"],
                           item["weight_kg"], item["storey"] or "")
                  for item in reversed(view["items"]))  # the last loaded comes off first
    return render_delivery_note(DeliveryNote(
        url=view["label_url"], load_code=load.code, sscc_text=view["sscc_text"] or "",
        project=facts["project"], site_address=facts["address"], vehicle=load.vehicle,
        driver=load.driver, trailer_type=load.trailer_type,
        planned_departure=_local(load.planned_departure_at),
        planned_arrival=_local(load.planned_arrival_at), lines=lines), font=label_font())
