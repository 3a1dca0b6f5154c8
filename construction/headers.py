"""Security headers on every answer: what a browser may load, frame, sniff or send on."""

from __future__ import annotations

from flask import Flask, Response, request

# Pages load only our own files; the scan page's decoder is WebAssembly, the
# photo pages show blob: previews, and label images are data: or our own.
PAGE_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
# The API docs page starts Swagger UI with an inline script of flask-smorest's.
DOCS_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
# Answers that are data, not documents, may load nothing at all.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
_DOCUMENTS = frozenset(("text/html", "text/javascript", "application/javascript"))


def add_security_headers(response: Response) -> Response:
    """Set the security headers an answer lacks."""
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        # A script's own policy binds it when it runs as a worker (the scan page's
        # service worker fetches and caches): scripts get the pages' policy.
        if response.mimetype in _DOCUMENTS:
            headers["Content-Security-Policy"] = (
                DOCS_POLICY if request.path.startswith("/api/v1/docs") else PAGE_POLICY)
        else:
            headers["Content-Security-Policy"] = DATA_POLICY
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # Label URLs carry signatures: other sites learn at most our origin.
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:  # over TLS (directly, or as the trusted proxy says)
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_security_headers(app: Flask) -> None:
    """Add the security headers to every response."""
    app.after_request(add_security_headers)
