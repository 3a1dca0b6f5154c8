"""The quality certificate (出厂合格证): one bilingual page per component, as a PDF."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from construction.extensions import db
from construction.models import Component, Event, Label, LedgerCheckpoint, User
from construction.permissions import Principal, readable_or_404
from construction.services.labels import label_contents, label_font
from construction.services.production import component_production
from labels.render import CertificateSection, LabelContent, render_certificate


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def certificate_pdf(principal: Principal, component_id: int, base_url: str) -> bytes:
    """Render a component's one-page bilingual quality certificate (出厂合格证)."""
    component = readable_or_404(principal, Component, component_id, "component")
    component_type = component.component_type
    label = db.session.scalar(select(Label).where(
        Label.component_id == component.id, Label.revoked_at.is_(None))
        .order_by(Label.version.desc()).limit(1))
    if label is not None:
        content = label_contents([label])[0]
    else:
        maker = component_type.manufacturer
        content = LabelContent(url=f"{base_url}/c/{component.code}", code=component.code,
                               mark=component.mark, component_type=component_type.name,
                               manufacturer=maker.name if maker else "",
                               project=component.project.name,
                               weight_kg=component_type.weight_kg,
                               concrete_grade=component_type.concrete_grade)
    record = component_production(component)
    dims = "x".join(str(v) for v in (component_type.length_mm, component_type.width_mm,
                                     component_type.height_mm) if v) or "-"
    sections = [CertificateSection("构件 Component", (
        f"尺寸 Dimensions: {dims} mm    重量 Weight: {component_type.weight_kg or '-'} kg    "
        f"强度等级 Grade: {component_type.concrete_grade or '-'}    "
        f"状态 State: {component.state}",))]
    pour = record["pour"]
    if pour is None:
        sections.append(CertificateSection("浇筑 Pour", ("无浇筑记录 No pour recorded",)))
    else:
        sections.append(CertificateSection(f"浇筑 Pour {pour['id']}", (
            f"浇筑时间 Cast: {_fmt_time(pour['cast_at'])}    模台 Mould: {pour['mould']}    "
            f"配合比 Mix: {pour['mix'] or '-'}    等级 Grade: {pour['concrete_grade']}    "
            f"养护 Curing: {pour['curing_method']}",)))
    gates = (f"脱模强度 Stripping: {record['stripping_strength_mpa'] or '-'} MPa    "
             f"出厂强度 Delivery: {record['delivery_strength_mpa'] or '-'} MPa")
    results = [f"试件 {r['specimen']}  龄期 age {r['age_days']} d  {r['strength_mpa']} MPa  "
               f"({_fmt_time(r['tested_at'])})" for r in (pour or {}).get("strength_results", [])]
    sections.append(CertificateSection("强度 Strength", (gates, *results)))
    sections.append(CertificateSection("检验 Inspections", tuple(
        f"{i['stage']}  {'合格 passed' if i['passed'] else '不合格 failed'}  "
        f"{i['inspector']}  {_fmt_time(i['inspected_at'])}  "
        + ", ".join(f"{r['key']}{'' if r['passed'] else ' ✗'}" for r in i["results"])
        for i in record["inspections"]) or ("无 None",)))
    ncr_lines = []
    for event, name in db.session.execute(
            select(Event, User.name).join(User, Event.user_id == User.id)
            .where(Event.component_id == component.id,
                   Event.action.in_(("qc_fail", "repair"))).order_by(Event.id)):
        data = event.data or {}
        what = (f"不合格 NCR opened: {data.get('category') or data.get('reason') or '-'}"
                if event.action == "qc_fail" else f"关闭 closed by repair: {data.get('record')}")
        ncr_lines.append(f"{_fmt_time(event.server_time)}  {what}  ({name})")
    for override in record["gate_overrides"]:
        ncr_lines.append(f"放行 Override {override['gate']}: {override['reason']} "
                         f"({override['by']}, {_fmt_time(override['created_at'])})")
    sections.append(CertificateSection("不合格与放行 NCRs and overrides",
                                       tuple(ncr_lines) or ("无 None",)))
    sequences = db.session.execute(
        select(func.max(Event.sequence), func.count(), func.count(Event.sequence))
        .where(Event.component_id == component.id)).one()
    checkpoint = None
    if sequences[0] is not None and sequences[1] == sequences[2]:
        checkpoint = db.session.scalar(select(LedgerCheckpoint).where(
            LedgerCheckpoint.sequence >= sequences[0]).order_by(LedgerCheckpoint.sequence)
            .limit(1))
    covered = (f"账本检查点 Ledger checkpoint {checkpoint.id}: events 1-{checkpoint.sequence}, "
               f"head {checkpoint.head_hash[:32]}…" if checkpoint is not None else
               "账本检查点 Ledger checkpoint: not yet made for all its events (see "
               "/api/v1/ledger/checkpoints)")
    footer = (f"签发 Issued {_fmt_time(datetime.now(UTC))} by PrefabTrace for "
              f"{principal.user_name}", covered,
              f"核验 Verify: {content.url.split('?')[0]}  ·  GET /api/v1/ledger/checkpoints")
    return render_certificate(content, "产品质量证明书 Quality certificate", sections, footer,
                              font=label_font())
