"""The delivery note (送货单) of a load: an A4 PDF in Chinese and English.

It carries the load's signed QR code, the trip, every component in unloading
order (the last loaded comes off first) with code, mark, type, weight and
storey, the totals, and signature boxes for the driver, the sender and the
receiver. Pure code: plain data in, PDF bytes out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from labels.codes import display
from labels.qr import dark_runs, qr_matrix
from labels.render import PT_PER_MM, LabelFont, label_font, printable


@dataclass(frozen=True)
class NoteLine:
    """One component on the note."""

    code: str
    mark: str
    component_type: str
    weight_kg: float | None
    storey: str


@dataclass(frozen=True)
class DeliveryNote:
    """What a delivery note prints; `lines` in unloading order."""

    url: str
    load_code: str
    sscc_text: str = ""
    project: str = ""
    site_address: str = ""
    vehicle: str = ""
    driver: str = ""
    trailer_type: str = ""
    planned_departure: str = ""
    planned_arrival: str = ""
    lines: tuple[NoteLine, ...] = field(default_factory=tuple)


class _QrCode(Flowable):
    """The QR code as vector squares, `side_mm` wide with its quiet zone."""

    def __init__(self, text: str, side_mm: float):
        super().__init__()
        self.matrix = qr_matrix(text)
        self.side = side_mm * PT_PER_MM
        self.width = self.height = self.side

    def draw(self) -> None:
        modules = self.matrix.shape[0] + 8
        module = self.side / modules
        self.canv.setFillColor(colors.black)
        for x, y, width in dark_runs(self.matrix).tolist():
            self.canv.rect((x + 4) * module, self.side - (y + 5) * module, width * module,
                           module, stroke=0, fill=1)


def _weight(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render_delivery_note(note: DeliveryNote, font: LabelFont | None = None) -> bytes:
    """Return the delivery note as an A4 PDF."""
    font_name = (font or label_font()).pdf_name
    body = ParagraphStyle("body", fontName=font_name, fontSize=9, leading=12, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=20)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * PT_PER_MM,
                                 rightMargin=15 * PT_PER_MM, topMargin=12 * PT_PER_MM,
                                 bottomMargin=12 * PT_PER_MM,
                                 title=f"Delivery note {note.load_code}", creator="PrefabTrace")

    def text(value: str) -> str:
        return printable(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    facts = [("送货单号 Load", display(note.load_code)), ("SSCC", note.sscc_text or "-"),
             ("项目 Project", note.project), ("送达地址 Site", note.site_address or "-"),
             ("车牌 Vehicle", note.vehicle or "-"), ("司机 Driver", note.driver or "-"),
             ("车型 Trailer", note.trailer_type or "-"),
             ("计划发车 Departs", note.planned_departure or "-"),
             ("计划到达 Arrives", note.planned_arrival or "-")]
    fact_table = Table([[Paragraph(text(k), body), Paragraph(text(v), body)] for k, v in facts],
                       colWidths=[32 * PT_PER_MM, 93 * PT_PER_MM])
    fact_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                                    ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    header = Table([[fact_table, _QrCode(note.url, 50)]],
                   colWidths=[128 * PT_PER_MM, 52 * PT_PER_MM])
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))

    heads = ["序号\nNo.", "编码\nCode", "构件号\nMark", "类型\nType", "重量 kg\nWeight",
             "楼层\nStorey"]
    rows = [[Paragraph(text(h).replace("\n", "<br/>"), body) for h in heads]]
    for number, line in enumerate(note.lines, start=1):
        rows.append([str(number), display(line.code), Paragraph(text(line.mark), body),
                     Paragraph(text(line.component_type), body), _weight(line.weight_kg),
                     Paragraph(text(line.storey or "-"), body)])
    total = sum(line.weight_kg or 0.0 for line in note.lines)
    rows.append(["", Paragraph(text(f"合计 Total: {len(note.lines)} 件 pieces"), body), "", "",
                 _weight(total), ""])
    items = Table(rows, colWidths=[w * PT_PER_MM for w in (14, 32, 40, 40, 24, 30)],
                  repeatRows=1)
    items.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), font_name), ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
        ("ALIGN", (4, 1), (4, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("SPAN", (1, -1), (3, -1)),
    ]))
    boxes = Table([[Paragraph(text(who), body) for who in (
        "司机签字 Driver", "发货人签字 Sender", "收货人签字 Receiver")],
        ["", "", ""], [Paragraph(text("日期 Date:"), body)] * 3],
        colWidths=[60 * PT_PER_MM] * 3, rowHeights=[None, 18 * PT_PER_MM, None])
    boxes.setStyle(TableStyle([("BOX", (0, 0), (0, -1), 0.5, colors.black),
                               ("BOX", (1, 0), (1, -1), 0.5, colors.black),
                               ("BOX", (2, 0), (2, -1), 0.5, colors.black)]))
    document.build([Paragraph(text("送货单 Delivery note"), title), Spacer(0, 4 * PT_PER_MM),
                    header, Spacer(0, 4 * PT_PER_MM),
                    Paragraph(text("构件按卸车顺序 Components in unloading order"), body),
                    Spacer(0, 2 * PT_PER_MM), items, Spacer(0, 8 * PT_PER_MM), boxes])
    return buffer.getvalue()
