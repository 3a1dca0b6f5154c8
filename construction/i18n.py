"""Page language: the one chosen with the switch, else the browser's (zh-CN or en)."""

from __future__ import annotations

from flask import has_request_context, request, session
from flask_babel import get_locale

LANGUAGES = {"zh_CN": "中文", "en": "English"}


def browser_language() -> str:
    """Return zh_CN when the browser prefers Chinese, else en."""
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return "zh_CN" if best.startswith("zh") else "en"


def select_locale() -> str:
    """Pick the language of this request's pages."""
    if not has_request_context():
        return "en"
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return browser_language()


def page_language() -> str:
    """Return the language code of this request's pages (zh_CN or en)."""
    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"
