"""Every visible text of the pages has its Chinese translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "construction" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "_pl": ((1, "c"), 2), "t": None}
METHODS = [("construction/**.py", "python"), ("construction/templates/**.html", "jinja2"),
           ("construction/static/js/**.js", "javascript")]


def _source_messages() -> set[tuple[str | None, str]]:
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
            str(ROOT), method_map=METHODS, keywords=KEYWORDS):
        if isinstance(message, tuple):
            message = message[0]
        if message:
            found.add((context, message))
    return found


def test_every_page_text_is_translated_to_chinese():
    with open(CATALOG, "rb") as handle:
        catalog = read_po(handle)
    translated = {(m.context, m.id): m.string for m in catalog
                  if m.id and m.string and not m.fuzzy}
    missing = sorted(str(key) for key in _source_messages() - set(translated))
    assert missing == [], "run `make translations` and translate: " + ", ".join(missing)


def test_placeholders_survive_translation():
    with open(CATALOG, "rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if message.id and message.string:
            names = sorted(re.findall(r"\{(\w+)\}|%\((\w+)\)s", message.id))
            assert sorted(re.findall(r"\{(\w+)\}|%\((\w+)\)s", message.string)) == names, \
                message.id
