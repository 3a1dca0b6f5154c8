"""Label benchmark: PNG labels per second, a 1000-label PDF, and decoding the QR corpus.

    .venv/bin/python bench/labels.py [--labels 1000] [--corpus ../shared/corpus/qr]

Each figure comes with a baseline measured in the same run:
- PNG: our renderer (zxing-cpp symbol, cached glyphs, direct 1-bit PNG) against
  python-qrcode + Pillow drawing the same label text with ImageDraw.
- PDF: our sheet (one path of runs per QR code, placed by a `cm` transform)
  against reportlab drawing every dark module as its own rectangle.
- Decoding: each engine alone (one pass, and with the chain's retries) and
  the chain, on every image of the corpus manifest (single-threaded, images
  loaded before timing); then the chain against zxing-cpp alone on the half
  of the corpus its retries were chosen on and on the held-out half, as it is
  and degraded (bench/_labels_split.py).
Targets: PNG >= 600 labels/s; 1000-label PDF <= 2 s; chain >= 97 % at a median
<= 1 ms per image.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import qrcode  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from reportlab.pdfgen.canvas import Canvas  # noqa: E402

from labels import decode  # noqa: E402
from labels.codes import new_code  # noqa: E402
from labels.payload import LabelIdentity, sign  # noqa: E402
from labels.qr import qr_matrix  # noqa: E402
from labels.render import (  # noqa: E402
    LAYOUTS,
    MM_PER_PT,
    PT_PER_MM,
    LabelContent,
    _pil_font,
    label_font,
    place,
    render_pdf,
    render_png,
)

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "qr"
TYPES = ["预制剪力墙 Precast shear wall", "叠合楼板 Composite slab", "预制楼梯 Precast stair",
         "预制梁 Precast beam", "预制阳台 Precast balcony"]


def batch(count: int) -> list[LabelContent]:
    """A realistic print batch: one project and maker, a few types, marks in sequence."""
    key = Ed25519PrivateKey.generate()
    contents = []
    for number in range(count):
        code = new_code()
        identity = (LabelIdentity(gtin="06901234567892", serial=f"PC{number:07d}")
                    if number % 3 == 0 else LabelIdentity(code=code))
        contents.append(LabelContent(
            url=sign("https://trace.example.cn", identity, 1 + number % 2, key), code=code,
            version=1 + number % 2, mark=f"YWQ-{number // 40 + 1}F-{number % 40 + 1:03d}",
            component_type=TYPES[number % len(TYPES)], manufacturer="华东预制构件有限公司",
            project="临港保障房项目 3号楼", weight_kg=1800.0 + 50 * (number % 30),
            concrete_grade="C35" if number % 4 else "C40",
            production_date=date(2026, 11, 1 + number % 25), qc_inspector="王建国"))
    return contents


def naive_png(content: LabelContent, layout, dpi: int = 300) -> bytes:
    """The usual way: python-qrcode's image, pasted with text drawn by Pillow."""
    placement = place(content, layout)
    scale = dpi / 25.4
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q,
                           box_size=max(1, int(placement.module_mm * scale)), border=0)
    symbol.add_data(content.url)
    picture = symbol.make_image().get_image().convert("L")
    page = Image.new("L", (round(layout.label_w_mm * scale), round(layout.label_h_mm * scale)),
                     255)
    page.paste(picture, (round(placement.qr_x_mm * scale), round(placement.qr_y_mm * scale)))
    draw = ImageDraw.Draw(page)
    for line in placement.lines:
        size = max(6, round(line.size_pt * MM_PER_PT * scale))
        draw.text((line.x_mm * scale, line.baseline_mm * scale), line.text, fill=0,
                  font=_pil_font(size), anchor="ls")
    buffer = io.BytesIO()
    page.convert("1").save(buffer, "PNG")
    return buffer.getvalue()


def naive_pdf(contents: list[LabelContent], layout) -> bytes:
    """Every dark module as its own reportlab rectangle, text by drawString."""
    font = label_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(layout.page_w_mm * PT_PER_MM,
                                      layout.page_h_mm * PT_PER_MM))
    for slot, content in enumerate(contents):
        if slot and slot % layout.per_page == 0:
            canvas.showPage()
        column, row = slot % layout.per_page % layout.columns, slot % layout.per_page // \
            layout.columns
        x0 = layout.margin_left_mm + column * layout.label_w_mm
        top = layout.margin_top_mm + row * layout.label_h_mm
        placement = place(content, layout)
        module = placement.module_mm * PT_PER_MM
        for y, x in zip(*np.nonzero(placement.matrix), strict=True):
            canvas.rect((x0 + placement.qr_x_mm) * PT_PER_MM + x * module,
                        (layout.page_h_mm - top - placement.qr_y_mm) * PT_PER_MM
                        - (y + 1) * module, module, module, stroke=0, fill=1)
        for line in placement.lines:
            canvas.setFont(font.pdf_name, line.size_pt)
            canvas.drawString((x0 + line.x_mm) * PT_PER_MM,
                              (layout.page_h_mm - top - line.baseline_mm) * PT_PER_MM,
                              line.text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def bench_rendering(count: int) -> list[tuple[str, str, str]]:
    label_font()
    contents = batch(count)
    layout = LAYOUTS["thermal-100x70"]
    naive_count = min(count, 200)
    naive_seconds, _ = timed(lambda: [naive_png(c, layout) for c in contents[:naive_count]])
    ours_seconds, pngs = timed(lambda: [render_png(c, layout) for c in contents])
    more = batch(count)  # new codes and marks: only the repeating lines are cached
    warm_seconds, _ = timed(lambda: [render_png(c, layout) for c in more])
    qr_seconds, _ = timed(lambda: [qr_matrix(c.url) for c in contents])
    sheet = LAYOUTS["a4-3x8"]
    pdf_seconds, pdf = timed(render_pdf, contents, sheet)
    naive_pdf_seconds, naive = timed(naive_pdf, contents, sheet)
    return [
        ("PNG labels/s (100x70 mm, 300 dpi)", f"{count / ours_seconds:,.0f}",
         f"{naive_count / naive_seconds:,.0f} (python-qrcode + Pillow text, {naive_count})"),
        ("  the next batch of the same job, /s", f"{count / warm_seconds:,.0f}", ""),
        ("  of which QR symbols alone, /s", f"{count / qr_seconds:,.0f}", ""),
        ("  mean PNG size, KB", f"{sum(map(len, pngs)) / count / 1024:.1f}", ""),
        (f"PDF of {count} labels (A4 3x8), s", f"{pdf_seconds:.2f}",
         f"{naive_pdf_seconds:.2f} (a rectangle per module)"),
        ("  PDF size, MB", f"{len(pdf) / 2**20:.1f}", f"{len(naive) / 2**20:.1f}"),
    ]


def _read(texts: list[str], expected) -> bool:
    return expected in texts if expected is not None else bool(texts)


def bench_decoding(corpus: Path) -> list[tuple[str, str, str]]:
    manifest = corpus / "manifest.jsonl"
    if not manifest.exists():
        return [("decoding", "skipped", f"no corpus at {corpus}")]
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    images = [(cv2.imread(str(corpus / row["image"]), cv2.IMREAD_GRAYSCALE), row["expected"])
              for row in rows]
    images = [(image, expected) for image, expected in images if image is not None]
    engines = dict(decode.ENGINES)
    runs = []
    for name, read in engines.items():
        runs.append((f"{name} alone, one pass", read))
        runs.append((f"{name} alone, with retries",
                     lambda image, pair=(name, read): decode.decode_image(image, [pair])))
    runs.append(("chain (decode_image)", decode.decode_image))
    table = []
    for title, function in runs:
        read, times = 0, []
        for image, expected in images:
            start = time.perf_counter()
            found = function(image)
            times.append((time.perf_counter() - start) * 1000)
            read += _read([code.text for code in found], expected)
        table.append((title, f"{read}/{len(images)} = {100 * read / len(images):.1f} %",
                      f"median {statistics.median(times):.2f} ms, "
                      f"mean {statistics.fmean(times):.2f} ms"))
    for name, note in decode.engines_available().items():
        if note:
            table.append((name, "not run", note))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _labels_split

    cv2.setNumThreads(1)
    rows = (bench_rendering(args.labels) + bench_decoding(args.corpus)
            + _labels_split.rows(args.corpus))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    header = ("measure", "PrefabTrace", "baseline / detail")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
