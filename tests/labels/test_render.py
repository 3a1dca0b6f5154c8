"""Labels as PNG, SVG and PDF: every printed code reads back to its URL."""

import io
import re
from datetime import date
from pathlib import Path

import numpy as np
import pypdfium2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from labels.codes import display, new_code
from labels.decode import decode_image
from labels.payload import LabelIdentity, key_id, sign, verify
from labels.qr import dark_runs, qr_matrix
from labels.render import (
    LAYOUTS,
    LabelContent,
    font_note,
    label_font,
    place,
    render_pdf,
    render_png,
    render_svg,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEYS = {key_id(KEY.public_key()): KEY.public_key()}


def content(number: int = 0, gs1: bool = False, **fields) -> LabelContent:
    code = new_code()
    identity = (LabelIdentity(gtin="06901234567892", serial=f"PC{number:06d}") if gs1
                else LabelIdentity(code=code))
    values = dict(mark=f"YWQ-3-{number:04d}", component_type="预制剪力墙 Precast shear wall",
                  manufacturer="华东预制构件有限公司", project="临港保障房 3号楼",
                  weight_kg=3250.0, concrete_grade="C35", production_date=date(2026, 11, 20),
                  qc_inspector="王建国")
    values.update(fields)
    return LabelContent(sign("https://trace.example.cn", identity, 2, KEY), code, 2, **values)


def test_the_symbol_is_level_q_and_runs_cover_exactly_the_dark_modules():
    url = content().url
    matrix = qr_matrix(url)
    assert matrix.shape[0] == matrix.shape[1] and matrix.shape[0] in range(21, 178, 4)
    painted = np.zeros_like(matrix)
    for x, y, width in dark_runs(matrix):
        assert not painted[y, x:x + width].any()
        painted[y, x:x + width] = True
    assert (painted == matrix).all()
    picture = np.kron(~matrix, np.ones((4, 4), bool)).astype(np.uint8) * 255
    picture = np.pad(picture, 16, constant_values=255)
    assert [c.text for c in decode_image(picture)] == [url]


def test_a_signed_url_uses_mixed_segments_and_stays_small():
    # 162 characters (a 13-character key id) in byte mode alone would need version 11
    # (61 modules) at Q; with the 4-character ids of old keys this URL fit version 9.
    url = content().url
    assert len(url) > 160
    assert qr_matrix(url).shape[0] <= 57


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_png_label_reads_back_and_has_its_print_size(layout):
    label = content()
    png = render_png(label, LAYOUTS[layout], dpi=300)
    image = Image.open(io.BytesIO(png))
    assert image.mode == "1"
    width_mm = image.size[0] / 300 * 25.4
    assert width_mm == pytest.approx(LAYOUTS[layout].label_w_mm, abs=0.2)
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    found = decode_image(np.asarray(image.convert("L")))
    assert [c.text for c in found] == [label.url]
    assert verify(found[0].text, KEYS).genuine


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_field_is_on_the_label_in_both_languages(layout):
    label = content(7)
    texts = [line.text for line in place(label, LAYOUTS[layout]).lines]
    joined = "\n".join(texts)
    assert texts[0] == display(label.code)
    for caption in ("制造商 Maker", "项目 Project", "构件 Mark", "类型 Type", "重量 Weight",
                    "强度 Grade", "生产日期 Made", "质检 QC"):
        assert caption in joined
    for value in ("YWQ-3-0007", "3,250 kg", "C35", "2026-11-20", "王建国", "v2"):
        assert value in joined


def test_a_long_value_is_shortened_not_spilled():
    label = content(manufacturer="中国建筑第八工程局有限公司华东预制构件分公司第三工厂" * 2)
    layout = LAYOUTS["thermal-62x29"]
    font = label_font()
    for line in place(label, layout).lines:
        right_mm = line.x_mm + font.width_pt(line.text, line.size_pt) * 25.4 / 72
        assert right_mm <= layout.label_w_mm - layout.padding_mm + 0.01
    assert any(line.text.endswith("…") for line in place(label, layout).lines)


def test_svg_is_vector_and_names_every_field():
    label = content()
    svg = render_svg(label, LAYOUTS["thermal-100x70"])
    assert svg.startswith("<svg") and 'width="100mm"' in svg and 'height="70mm"' in svg
    assert re.search(r'<path [^>]*d="M\d', svg)
    assert "华东预制构件有限公司" in svg and "<image" not in svg


def test_svg_escapes_markup_in_values():
    svg = render_svg(content(mark="<b>&x"), LAYOUTS["thermal-100x70"])
    assert "<b>" not in svg and "&lt;b&gt;&amp;x" in svg


def test_pdf_embeds_a_cjk_font():
    if font_note() is not None:
        pytest.skip(font_note())
    pdf = render_pdf([content()], LAYOUTS["thermal-62x29"])
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf


@pytest.mark.parametrize("layout,count", [("a4-3x8", 27), ("thermal-62x29", 3),
                                          ("thermal-100x70", 2)])
def test_every_label_on_a_pdf_sheet_decodes_back_to_its_component(layout, count):
    labels = [content(i, gs1=i % 2 == 1) for i in range(count)]
    seen = []
    pdf = render_pdf(labels, LAYOUTS[layout], progress=seen.append)
    assert len(seen) == count
    document = pypdfium2.PdfDocument(pdf)
    pages = -(-count // LAYOUTS[layout].per_page)
    assert len(document) == pages
    page_size_mm = [round(v * 25.4 / 72) for v in document[0].get_size()]
    assert page_size_mm == [round(LAYOUTS[layout].page_w_mm), round(LAYOUTS[layout].page_h_mm)]
    read = []
    for page in document:
        bitmap = page.render(scale=200 / 72, grayscale=True).to_pil().convert("L")
        read += [c.text for c in decode_image(np.asarray(bitmap))]
    assert sorted(read) == sorted(label.url for label in labels)
    assert all(verify(url, KEYS).genuine for url in read)


def test_an_empty_sheet_is_refused():
    with pytest.raises(ValueError):
        render_pdf([], LAYOUTS["a4-3x8"])


any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


@settings(max_examples=60, deadline=None)
@given(mark=any_text, project=any_text, manufacturer=any_text)
def test_any_text_prints_on_one_line_in_every_format(mark, project, manufacturer):
    label = content(mark=mark, project=project, manufacturer=manufacturer)
    layout = LAYOUTS["thermal-62x29"]
    for line in place(label, layout).lines:
        assert re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", line.text) is None
    assert render_png(label, layout, dpi=100).startswith(b"\x89PNG")
    render_svg(label, layout).encode()
    assert render_pdf([label], layout).startswith(b"%PDF")


def test_the_font_is_an_argument_and_the_environment_is_not_read(monkeypatch):
    import reportlab

    from labels.render import FONT_CANDIDATES

    vera = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")
    monkeypatch.setenv("LABEL_FONT", vera)  # the application passes it; the library never looks
    default = label_font()
    assert default.path != vera and (default.path in FONT_CANDIDATES or default.path is None)
    chosen = label_font(vera)
    assert chosen.path == vera and chosen.note is None and chosen.pdf_name != default.pdf_name
    missing = label_font("/nowhere/font.ttf")
    assert missing.path is None and "LABEL_FONT" in missing.note
    label = content(manufacturer="Precast Ltd", project="Tower 3", component_type="Wall",
                    qc_inspector="Wang")
    layout = LAYOUTS["thermal-100x70"]
    assert b"BitstreamVeraSans" in render_pdf([label], layout, font=chosen)
    assert b"BitstreamVeraSans" not in render_pdf([label], layout)
    assert render_png(label, layout, font=chosen) != render_png(label, layout)


def test_the_pure_libraries_read_no_environment():
    root = Path(__file__).resolve().parents[2]
    for package in ("labels", "vision", "bim"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            assert "os.environ" not in text and "getenv" not in text, source
