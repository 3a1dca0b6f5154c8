"""Print-ready labels: one label as PNG or SVG, many on PDF sheets.

Every output is drawn from the same placement (millimetres from the top-left
corner of the label), so PNG, SVG and PDF agree. A label carries its QR code
(level Q, drawn as vector squares in SVG and PDF), the short code large for
manual entry, and the human-readable block in Chinese and English:
manufacturer, project, component mark and type, weight, concrete grade,
production date and QC inspector. PDFs embed a CJK TrueType font (subset) so a
label prints the same on any printer.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from labels.codes import display
from labels.qr import dark_runs, qr_matrix

MM_PER_PT = 25.4 / 72
PT_PER_MM = 72 / 25.4

# TrueType outlines only: reportlab cannot embed the CFF outlines of Noto CJK.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
FONT_FAMILY_SVG = "'WenQuanYi Zen Hei', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True)
class LabelContent:
    """What one label shows: its signed URL and the human-readable block."""

    url: str
    code: str
    version: int = 1
    mark: str = ""
    component_type: str = ""
    manufacturer: str = ""
    project: str = ""
    weight_kg: float | None = None
    concrete_grade: str = ""
    production_date: date | None = None
    qc_inspector: str = ""

    @property
    def heading(self) -> str:
        """The large line: the short code for manual entry."""
        return display(self.code)


@dataclass(frozen=True)
class LoadLabelContent:
    """What a load label shows: its signed URL, the SSCC (or load code) and the trip."""

    url: str
    heading: str  # the SSCC in human-readable form, or the load code
    version: int = 1
    project: str = ""
    vehicle: str = ""
    driver: str = ""
    piece_count: int = 0
    weight_kg: float | None = None
    load_code: str = ""
    planned_departure: str = ""


@dataclass(frozen=True)
class Layout:
    """A label size and how labels sit on a page."""

    name: str
    title: str
    label_w_mm: float
    label_h_mm: float
    page_w_mm: float
    page_h_mm: float
    columns: int = 1
    rows: int = 1
    margin_left_mm: float = 0.0
    margin_top_mm: float = 0.0
    gap_x_mm: float = 0.0
    gap_y_mm: float = 0.0
    padding_mm: float = 1.5
    qr_mm: float = 30.0  # the QR code's side, quiet zone included
    quiet_modules: int = 4
    code_pt: float = 12.0
    body_pt: float = 7.0
    min_body_pt: float = 4.5
    # Which fields share a line, in order; the short code always comes first.
    lines: tuple[tuple[str, ...], ...] = ()

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


_FULL = (("manufacturer",), ("project",), ("mark",), ("component_type",), ("weight_kg",),
         ("concrete_grade",), ("production_date",), ("qc_inspector",))

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("a4-3x8", "A4 sheet, 3 x 8 labels of 70 x 37 mm", 70, 37, 210, 297, columns=3,
           rows=8, margin_top_mm=0.5, qr_mm=34, code_pt=12, body_pt=6.5, lines=_FULL),
    Layout("thermal-100x70", "Thermal label 100 x 70 mm", 100, 70, 100, 70, padding_mm=3,
           qr_mm=46, code_pt=20, body_pt=9, min_body_pt=6, lines=_FULL),
    Layout("thermal-62x29", "Thermal label 62 x 29 mm", 62, 29, 62, 29, padding_mm=1,
           qr_mm=27, quiet_modules=2, code_pt=11, body_pt=5.8, min_body_pt=4, lines=_FULL),
)}
DEFAULT_LAYOUT = "thermal-100x70"

CAPTIONS = {
    "manufacturer": ("制造商", "Maker"),
    "project": ("项目", "Project"),
    "mark": ("构件", "Mark"),
    "component_type": ("类型", "Type"),
    "weight_kg": ("重量", "Weight"),
    "concrete_grade": ("强度", "Grade"),
    "production_date": ("生产日期", "Made"),
    "qc_inspector": ("质检", "QC"),
    "vehicle": ("车牌", "Vehicle"),
    "driver": ("司机", "Driver"),
    "piece_count": ("件数", "Pieces"),
    "load_code": ("车次", "Load"),
    "planned_departure": ("发车", "Departs"),
}

_LOAD_LINES = (("project",), ("vehicle",), ("piece_count",), ("weight_kg",), ("driver",),
               ("load_code",), ("planned_departure",))
# Load labels: one per truck, stuck on the cab or handed to the driver.
LOAD_LAYOUTS: dict[str, Layout] = {
    "thermal-100x70": Layout("thermal-100x70", "Thermal load label 100 x 70 mm", 100, 70, 100,
                             70, padding_mm=3, qr_mm=46, code_pt=11, body_pt=9, min_body_pt=6,
                             lines=_LOAD_LINES),
    "a4": Layout("a4", "A4 load label", 190, 120, 210, 297, margin_left_mm=10,
                 margin_top_mm=10, padding_mm=5, qr_mm=90, code_pt=16, body_pt=16,
                 min_body_pt=8, lines=_LOAD_LINES),
}


# A label line is one line: control characters and Unicode line and paragraph
# separators (which text shaping refuses inside a line) print as spaces, and a
# lone surrogate, which no font can draw, as the replacement character.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _one_line(match: re.Match) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else " "


def printable(text: str) -> str:
    """Return text as one printable line."""
    return _UNPRINTABLE.sub(_one_line, text)


def _value(content: LabelContent | LoadLabelContent, field: str) -> str:
    value = getattr(content, field)
    if value is None or value == "":
        return "-"
    if field == "weight_kg":
        return f"{value:,.0f} kg"
    if isinstance(value, date):
        return value.isoformat()
    return printable(str(value))


@dataclass(frozen=True)
class TextLine:
    x_mm: float
    baseline_mm: float
    size_pt: float
    text: str


@dataclass(frozen=True)
class Placement:
    """Where everything on one label goes, in millimetres from its top-left corner."""

    matrix: np.ndarray
    qr_x_mm: float
    qr_y_mm: float
    module_mm: float
    lines: tuple[TextLine, ...]


# --- fonts -----------------------------------------------------------------


@dataclass(frozen=True)
class LabelFont:
    """The CJK font labels use: a TrueType file when one is installed."""

    path: str | None
    pdf_name: str
    note: str | None  # why the PDF does not embed a font, when it does not

    def width_pt(self, text: str, size_pt: float) -> float:
        return pdfmetrics.stringWidth(text, self.pdf_name, size_pt)


@functools.cache
def label_font(path: str | None = None) -> LabelFont:
    """Find and register a label font: the TrueType file at `path`, else a known CJK font."""
    for candidate in ((path,) if path else FONT_CANDIDATES):
        if os.path.exists(candidate):
            # One PDF name per file: two fonts in one process must not replace each other.
            name = f"LabelCJK-{zlib.crc32(candidate.encode()):08x}"
            pdfmetrics.registerFont(TTFont(name, candidate, subfontIndex=0))
            return LabelFont(candidate, name, None)
    # Readers show this built-in CID font, but printers may substitute it.
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return LabelFont(None, "STSong-Light", "no CJK TrueType font found (install fonts-wqy-zenhei "
                     "or set LABEL_FONT): PDFs use the non-embedded STSong-Light")


def font_note(path: str | None = None) -> str | None:
    """Say why labels are not printed with an embedded CJK font, or None when they are."""
    return label_font(path).note


@functools.cache
def _pil_font(path: str | None, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size_px)
    return ImageFont.truetype(path, size_px, index=0)


# --- placement -------------------------------------------------------------


def _fit(font: LabelFont, text: str, width_mm: float, size_pt: float,
         min_pt: float) -> tuple[str, float]:
    """Shrink the text's size to fit the width, down to min_pt, then cut it with an ellipsis."""
    width_pt = width_mm * PT_PER_MM
    natural = font.width_pt(text, size_pt)
    if natural <= width_pt:
        return text, size_pt
    size = max(min_pt, size_pt * width_pt / natural * 0.999)  # 0.999: float rounding
    if font.width_pt(text, size) <= width_pt:
        return text, size
    while len(text) > 1 and font.width_pt(text + "…", size) > width_pt:
        text = text[:-1]
    return text + "…", size


def _field_text(content: LabelContent | LoadLabelContent, field: str) -> str:
    zh, en = CAPTIONS[field]
    return f"{zh} {en}: {_value(content, field)}"


def place(content: LabelContent | LoadLabelContent, layout: Layout,
          font: LabelFont | None = None) -> Placement:
    """Lay one label out: the QR code at the left, the text block at the right.

    Text is measured in `font` (default: the first known CJK font installed).
    """
    font = font or label_font()
    matrix = qr_matrix(content.url)
    modules = matrix.shape[0] + 2 * layout.quiet_modules
    module_mm = layout.qr_mm / modules
    qr_top = (layout.label_h_mm - layout.qr_mm) / 2
    qr_x = layout.padding_mm + layout.quiet_modules * module_mm
    qr_y = qr_top + layout.quiet_modules * module_mm

    text_x = layout.padding_mm + layout.qr_mm + 1.0
    text_w = layout.label_w_mm - text_x - layout.padding_mm
    version_text = f"v{content.version}"
    version_w = font.width_pt(version_text, layout.body_pt) * MM_PER_PT
    code_text, code_pt = _fit(font, printable(content.heading), text_w - version_w - 1.5,
                              layout.code_pt, layout.min_body_pt)
    # The text block starts level with the symbol and ends level with it, or
    # within the padding on labels lower than the QR box.
    top = max(layout.padding_mm, qr_y - 0.5)
    bottom = layout.label_h_mm - max(layout.padding_mm, qr_y - 0.5)
    baseline = top + code_pt * MM_PER_PT * 0.8
    lines = [TextLine(text_x, baseline, code_pt, code_text),
             TextLine(layout.label_w_mm - layout.padding_mm - version_w, baseline,
                      layout.body_pt, version_text)]
    texts = [("  ".join(_field_text(content, field) for field in fields))
             for fields in layout.lines]
    step = (bottom - baseline - code_pt * MM_PER_PT * 0.1) / len(texts)
    # One size for the whole block reads better than a size per line: shrink
    # all lines together, at most to 80 %; only a line still too long then
    # shrinks alone (down to min_body_pt) and, last, loses its end.
    size = min(layout.body_pt, step * PT_PER_MM / 1.25)
    widest = max(font.width_pt(text, size) for text in texts)
    size = max(size * 0.8, min(size, size * text_w * PT_PER_MM / widest))
    for text in texts:
        baseline += step
        fitted, line_size = _fit(font, text, text_w, size, layout.min_body_pt)
        lines.append(TextLine(text_x, baseline, line_size, fitted))
    return Placement(matrix, qr_x, qr_y, module_mm, tuple(lines))


# --- PNG -------------------------------------------------------------------


@dataclass(frozen=True)
class _Ink:
    paper: np.ndarray  # bool, False where the text is dark (pages are True = white)
    left: int  # from the pen position to the ink's left edge
    top: int  # from the baseline to the ink's top edge (negative: above)
    advance: float = 0.0


@functools.cache
def _glyph(path: str | None, char: str, size_px: int) -> _Ink:
    # Glyphs are drawn once per font and size and then copied: FreeType
    # rendering cost more than everything else in a label.
    font = _pil_font(path, size_px)
    pad = 2 * size_px
    canvas = Image.new("L", (4 * size_px, 4 * size_px), 0)
    ImageDraw.Draw(canvas).text((pad, pad), char, fill=255, font=font, anchor="ls")
    ink = np.asarray(canvas) > 127
    rows, columns = np.nonzero(ink)
    if rows.size == 0:
        return _Ink(np.ones((0, 0), bool), 0, 0, font.getlength(char))
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    return _Ink(~ink[top:bottom, left:right], int(left - pad), int(top - pad),
                font.getlength(char))


def _glyphs(path: str | None, text: str, size_px: int):
    x = 0.0
    for char in text:
        glyph = _glyph(path, char, size_px)
        if glyph.paper.size:
            yield round(x) + glyph.left, glyph.top, glyph.paper
        x += glyph.advance


def _line(path: str | None, text: str, size_px: int) -> _Ink:
    placed = list(_glyphs(path, text, size_px))
    if not placed:
        return _Ink(np.ones((0, 0), bool), 0, 0)
    left = min(p[0] for p in placed)
    top = min(p[1] for p in placed)
    right = max(p[0] + p[2].shape[1] for p in placed)
    bottom = max(p[1] + p[2].shape[0] for p in placed)
    paper = np.ones((bottom - top, right - left), bool)
    for x, y, glyph in placed:
        h, w = glyph.shape
        paper[y - top:y - top + h, x - left:x - left + w] &= glyph
    return _Ink(paper, left, top)


# Most lines (maker, project, type, grade...) repeat on every label of a batch:
# a line seen twice is kept whole; one seen once is drawn glyph by glyph.
_LINES: dict[tuple[str | None, str, int], _Ink] = {}
_SEEN_ONCE: set[tuple[str | None, str, int]] = set()
_LINES_KEPT = 4096


def _stamp(page: np.ndarray, left: int, top: int, paper: np.ndarray) -> None:
    h, w = paper.shape
    page_h, page_w = page.shape
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + w, page_w), min(top + h, page_h)
    if x1 > x0 and y1 > y0:  # clipped: a line never spills, but a bad size must not raise
        page[y0:y1, x0:x1] &= paper[y0 - top:y1 - top, x0 - left:x1 - left]


def _draw_text(page: np.ndarray, x: float, baseline: float, text: str, size_px: int,
               path: str | None) -> None:
    x, baseline = round(x), round(baseline)
    key = (path, text, size_px)
    line = _LINES.get(key)
    if line is None and key in _SEEN_ONCE:
        if len(_LINES) >= _LINES_KEPT:
            _LINES.clear()
        line = _LINES[key] = _line(path, text, size_px)
    if line is not None:
        _stamp(page, x + line.left, baseline + line.top, line.paper)
        return
    if len(_SEEN_ONCE) >= _LINES_KEPT:
        _SEEN_ONCE.clear()
    _SEEN_ONCE.add(key)
    for left, top, paper in _glyphs(path, text, size_px):
        _stamp(page, x + left, baseline + top, paper)


def _png_1bit(page: np.ndarray, dpi: int) -> bytes:
    # A direct 1-bit writer: no filters, fast zlib. Pillow's encoder took longer
    # than drawing the whole label; the pHYs chunk keeps the print size exact.
    height, width = page.shape
    rows = np.packbits(page, axis=1)
    raw = np.zeros((height, rows.shape[1] + 1), np.uint8)  # a filter byte (0) per row
    raw[:, 1:] = rows
    per_metre = round(dpi / 0.0254)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)),
        chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
        chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)),
        chunk(b"IEND", b""),
    ))


def render_png(content: LabelContent | LoadLabelContent, layout: Layout,
               dpi: int = 300, font: LabelFont | None = None) -> bytes:
    """Return one label as a 1-bit PNG at `dpi` (thermal printers print 1-bit)."""
    font = font or label_font()
    placement = place(content, layout, font)
    scale = dpi / 25.4
    width, height = round(layout.label_w_mm * scale), round(layout.label_h_mm * scale)
    page = np.ones((height, width), bool)  # True = white
    # Whole pixels per module keep every module the same size on the printout.
    module_px = max(1, int(placement.module_mm * scale))
    qr = np.repeat(np.repeat(~placement.matrix, module_px, axis=0), module_px, axis=1)
    side_mm = placement.matrix.shape[0] * placement.module_mm
    left = round((placement.qr_x_mm + (side_mm - qr.shape[1] / scale) / 2) * scale)
    top = round((placement.qr_y_mm + (side_mm - qr.shape[0] / scale) / 2) * scale)
    page[top:top + qr.shape[0], left:left + qr.shape[1]] = qr
    for line in placement.lines:
        size_px = max(6, round(line.size_pt * MM_PER_PT * scale))
        _draw_text(page, line.x_mm * scale, line.baseline_mm * scale, line.text, size_px,
                   font.path)
    return _png_1bit(page, dpi)


# --- SVG -------------------------------------------------------------------


def _svg_path(runs: np.ndarray) -> str:
    return "".join(f"M{x} {y}h{w}v1h-{w}z" for x, y, w in runs.tolist())


def render_svg(content: LabelContent, layout: Layout, font: LabelFont | None = None) -> str:
    """Return one label as SVG in millimetres, the QR code as one path of squares."""
    placement = place(content, layout, font)
    w, h = layout.label_w_mm, layout.label_h_mm
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" '
        f'viewBox="0 0 {w} {h}">',
        f'<rect width="{w}" height="{h}" fill="#fff"/>',
        f'<path transform="translate({placement.qr_x_mm:.3f} {placement.qr_y_mm:.3f}) '
        f'scale({placement.module_mm:.5f})" fill="#000" shape-rendering="crispEdges" '
        f'd="{_svg_path(dark_runs(placement.matrix))}"/>',
        f'<g font-family="{escape(FONT_FAMILY_SVG)}" fill="#000">',
    ]
    for line in placement.lines:
        parts.append(f'<text x="{line.x_mm:.2f}" y="{line.baseline_mm:.2f}" '
                     f'font-size="{line.size_pt * MM_PER_PT:.2f}">{escape(line.text)}</text>')
    parts.append("</g></svg>")
    return "\n".join(parts)


# --- PDF -------------------------------------------------------------------


def _pdf_qr(placement: Placement, x_mm: float, top_mm: float, page_h_mm: float) -> str:
    # In module units with y pointing down, so every number is a small integer
    # and formatting stays cheap: the cm operator maps them onto the page.
    s = placement.module_mm * PT_PER_MM
    x0 = (x_mm + placement.qr_x_mm) * PT_PER_MM
    y0 = (page_h_mm - top_mm - placement.qr_y_mm) * PT_PER_MM
    runs = "\n".join(f"{x} {y} {w} 1 re" for x, y, w in dark_runs(placement.matrix).tolist())
    return f"q {s:.5f} 0 0 {-s:.5f} {x0:.3f} {y0:.3f} cm 0 g\n{runs}\nf Q"


def render_pdf(contents: Iterable[LabelContent | LoadLabelContent], layout: Layout,
               progress: Callable[[int], None] | None = None,
               title: str = "PrefabTrace labels", font: LabelFont | None = None) -> bytes:
    """Return a PDF with the labels laid out on sheets, in order; call progress(n) per label."""
    font = font or label_font()
    buffer = io.BytesIO()
    page_w_pt, page_h_pt = layout.page_w_mm * PT_PER_MM, layout.page_h_mm * PT_PER_MM
    canvas = Canvas(buffer, pagesize=(page_w_pt, page_h_pt), pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("PrefabTrace")
    slot = 0
    for content in contents:
        if slot == layout.per_page:
            canvas.showPage()
            slot = 0
        column, row = slot % layout.columns, slot // layout.columns
        x_mm = layout.margin_left_mm + column * (layout.label_w_mm + layout.gap_x_mm)
        top_mm = layout.margin_top_mm + row * (layout.label_h_mm + layout.gap_y_mm)
        placement = place(content, layout, font)
        canvas.addLiteral(_pdf_qr(placement, x_mm, top_mm, layout.page_h_mm))
        text = canvas.beginText()
        for line in placement.lines:
            text.setFont(font.pdf_name, line.size_pt)
            text.setTextOrigin((x_mm + line.x_mm) * PT_PER_MM,
                               (layout.page_h_mm - top_mm - line.baseline_mm) * PT_PER_MM)
            text.textOut(line.text)
        canvas.drawText(text)
        slot += 1
        if progress is not None:
            progress(1)
    if slot == 0:
        raise ValueError("a sheet needs at least one label")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- quality certificate ---------------------------------------------------


@dataclass(frozen=True)
class CertificateSection:
    """One titled block of a certificate: a caption in both languages and its lines."""

    title: str
    lines: tuple[str, ...]


def render_certificate(label: LabelContent, heading: str, sections: Iterable[CertificateSection],
                       footer: tuple[str, ...] = (), font: LabelFont | None = None) -> bytes:
    """Return a one-page A4 PDF: the label's QR and identity block, then the sections.

    Lines that do not fit the page are cut and the last line says how many were left out.
    """
    font = font or label_font()
    page_w_mm, page_h_mm, margin_mm = 210.0, 297.0, 14.0
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(page_w_mm * PT_PER_MM, page_h_mm * PT_PER_MM),
                    pageCompression=1)
    canvas.setTitle(f"{heading} {label.code}")
    canvas.setCreator("PrefabTrace")
    qr_layout = LAYOUTS["thermal-100x70"]
    placement = place(label, qr_layout, font)
    # The label's QR, at its printed size, in the top right corner.
    qr_left_mm = page_w_mm - margin_mm - qr_layout.qr_mm
    canvas.addLiteral(_pdf_qr(placement, qr_left_mm - placement.qr_x_mm,
                              margin_mm - placement.qr_y_mm, page_h_mm))
    text = canvas.beginText()

    def line(x_mm: float, y_mm: float, value: str, size_pt: float, width_mm: float) -> None:
        fitted, size = _fit(font, printable(value), width_mm, size_pt, size_pt * 0.7)
        text.setFont(font.pdf_name, size)
        text.setTextOrigin(x_mm * PT_PER_MM, (page_h_mm - y_mm) * PT_PER_MM)
        text.textOut(fitted)

    y = margin_mm + 6
    line(margin_mm, y, heading, 15, qr_left_mm - margin_mm - 4)
    y += 9
    line(margin_mm, y, display(label.code), 13, qr_left_mm - margin_mm - 4)
    y += 6
    for field in ("manufacturer", "project", "mark", "component_type", "weight_kg",
                  "concrete_grade", "production_date", "qc_inspector"):
        line(margin_mm, y, _field_text(label, field), 8.5, qr_left_mm - margin_mm - 4)
        y += 4.2
    y = max(y, margin_mm + qr_layout.qr_mm) + 4
    width = page_w_mm - 2 * margin_mm
    bottom = page_h_mm - margin_mm - 4.0 * (len(footer) + 1)
    rows: list[tuple[str, float, float]] = []  # text, size, space before
    for section in sections:
        rows.append((section.title, 10.5, 2.0))
        rows += [(value, 8.0, 0.0) for value in section.lines]
    for position, (value, size, before) in enumerate(rows):
        step = size * MM_PER_PT * 1.45 + before
        if y + step > bottom:
            line(margin_mm, y + 3.5, f"… {len(rows) - position} lines more in the API / "
                 f"另有 {len(rows) - position} 行见接口", 8.0, width)
            break
        y += step
        line(margin_mm + (0 if size > 9 else 3), y, value, size, width - 3)
    y = page_h_mm - margin_mm - 4.0 * len(footer)
    for value in footer:
        line(margin_mm, y, value, 7.0, width)
        y += 4.0
    canvas.drawText(text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
