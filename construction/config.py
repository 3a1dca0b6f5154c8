"""Configuration from environment variables with embedded defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

DEFAULT_SECRET = "dev-only-insecure-secret"
ENVIRONMENTS = ("development", "production")


def _database_url(url: str, instance_path: str) -> str:
    """Return the URL with a relative SQLite path made absolute from the project folder.

    Flask-SQLAlchemy would read a relative path from the instance folder, so the
    documented `sqlite:///instance/prefabtrace.db` would name instance/instance/...
    """
    prefix, _, path = url.partition(":///")
    if not prefix.startswith("sqlite") or not path or path.startswith(("/", ":memory:")) \
            or path.startswith("file:"):
        return url
    project = os.path.dirname(os.path.abspath(instance_path))
    return f"{prefix}:///{os.path.join(project, path)}"


def load_config(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the configuration: defaults, then the environment, then `overrides`."""
    os.makedirs(instance_path, exist_ok=True)
    env = os.environ
    config: dict[str, Any] = {
        "ENV_NAME": env.get("PREFABTRACE_ENV", "development"),
        "SECRET_KEY": env.get("SECRET_KEY", DEFAULT_SECRET),
        # Page sign-in: a signed session cookie for one shift; behind TLS set
        # SESSION_COOKIE_SECURE=1 so the cookie never travels in clear.
        "SESSION_COOKIE_NAME": "prefabtrace_session",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get(
            "SESSION_COOKIE_SECURE",
            "1" if env.get("PREFABTRACE_ENV") == "production" else "0") == "1",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=float(env.get("SESSION_HOURS", "12"))),
        # A form token lives as long as the session: a phone that was offline
        # for an hour still sends its queue with the token it had.
        "WTF_CSRF_TIME_LIMIT": None,
        # Wrong passwords before sign-ins pause: for one name from one address,
        # and from one address for any names.
        "SIGN_IN_MAX_FAILURES": int(env.get("SIGN_IN_MAX_FAILURES", "10")),
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS": int(env.get("SIGN_IN_MAX_FAILURES_PER_ADDRESS",
                                                        "100")),
        "SIGN_IN_MAX_FAILURES_PER_NAME": int(env.get("SIGN_IN_MAX_FAILURES_PER_NAME", "50")),
        "SIGN_IN_PAUSE_MINUTES": int(env.get("SIGN_IN_PAUSE_MINUTES", "15")),
        # Request rates (Flask-Limiter), per signed-in user, per address for sign-in.
        # Counts live in Redis when REDIS_URL is set, so every worker shares them;
        # else in each process's memory.
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "1").lower()
        not in ("0", "false", "no", "off"),
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
        "RATELIMIT_KEY_PREFIX": "prefabtrace",
        # A Redis outage must not stop scanning and uploads: limits lapse, logged.
        "RATELIMIT_SWALLOW_ERRORS": True,
        # Many workers sign in from one site address at the start of a shift.
        "RATE_LIMIT_SIGN_IN": env.get("RATE_LIMIT_SIGN_IN", "30/minute"),
        "RATE_LIMIT_DECODE": env.get("RATE_LIMIT_DECODE", "30/minute"),
        "RATE_LIMIT_UPLOADS": env.get("RATE_LIMIT_UPLOADS", "30/minute"),
        "RATE_LIMIT_EXPORTS": env.get("RATE_LIMIT_EXPORTS", "60/minute"),
        "RATE_LIMIT_SECURITY_EVENTS": env.get("RATE_LIMIT_SECURITY_EVENTS", "30/hour"),
        # Reverse proxies in front (1 behind nginx or Caddy): their X-Forwarded-*
        # headers then give the client's address and the scheme.
        "PROXY_HOPS": int(env.get("PROXY_HOPS", "0")),
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "BABEL_DEFAULT_LOCALE": "en",
        "SQLALCHEMY_DATABASE_URI": _database_url(
            env.get("DATABASE_URL", "sqlite:///instance/prefabtrace.db"), instance_path),
        "SQLITE_BUSY_TIMEOUT_MS": int(env.get("SQLITE_BUSY_TIMEOUT_MS", "10000")),
        "SQLITE_SYNCHRONOUS": env.get("SQLITE_SYNCHRONOUS", "NORMAL").upper(),
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        # Loads get an SSCC from these; without a prefix, an internal load code.
        "GS1_COMPANY_PREFIX": env.get("GS1_COMPANY_PREFIX", ""),
        "GS1_SSCC_EXTENSION_DIGIT": env.get("GS1_SSCC_EXTENSION_DIGIT", "0"),
        "LOAD_PLAN_MAX_COMPONENTS": int(env.get("LOAD_PLAN_MAX_COMPONENTS", "2000")),
        "STORAGE": env.get("STORAGE", "local"),
        "PHOTO_DIR": env.get("PHOTO_DIR", os.path.join(instance_path, "photos")),
        "JOBS": env.get("JOBS", "inline"),
        "REDIS_URL": env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # One JSON object per line for log collectors in production; text to read by eye.
        "LOG_FORMAT": env.get("LOG_FORMAT", "json" if env.get("PREFABTRACE_ENV") == "production"
                              else "text"),
        "BATCH_MAX_ITEMS": int(env.get("BATCH_MAX_ITEMS", "500")),
        "IMPORT_MAX_ROWS": int(env.get("IMPORT_MAX_ROWS", "20000")),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(64 * 1024 * 1024))),
        "JSON_MAX_BYTES": int(env.get("JSON_MAX_BYTES", str(8 * 1024 * 1024))),
        "TOKEN_DEFAULT_DAYS": int(env.get("TOKEN_DEFAULT_DAYS", "90")),
        "TOKEN_CACHE_SECONDS": float(env.get("TOKEN_CACHE_SECONDS", "5")),
        "LABEL_SIGNING_KEY_FILE": env.get(
            "LABEL_SIGNING_KEY_FILE", os.path.join(instance_path, "label-signing-key.pem")),
        # Checkpoints are signed with a key of their own, kept apart from the label key.
        "LEDGER_SIGNING_KEY_FILE": env.get(
            "LEDGER_SIGNING_KEY_FILE", os.path.join(instance_path, "ledger-signing-key.pem")),
        "LABEL_SHEET_MAX": int(env.get("LABEL_SHEET_MAX", "5000")),
        # The CJK TrueType font of labels, certificates and delivery notes (empty: the
        # first of labels.render.FONT_CANDIDATES installed).
        "LABEL_FONT": env.get("LABEL_FONT", ""),
        "DECODE_MAX_PIXELS": int(env.get("DECODE_MAX_PIXELS", "50000000")),
        "DECODE_RETRY_MAX_PIXELS": int(env.get("DECODE_RETRY_MAX_PIXELS", "12000000")),
        "PHOTO_MAX_BYTES": int(env.get("PHOTO_MAX_BYTES", str(25 * 1024 * 1024))),
        "PHOTO_MAX_PIXELS": int(env.get("PHOTO_MAX_PIXELS", "50000000")),
        "PHOTO_MAX_FILES": int(env.get("PHOTO_MAX_FILES", "20")),
        "PHOTO_UTC_OFFSET_MINUTES": int(env.get("PHOTO_UTC_OFFSET_MINUTES", "480")),
        "PHOTO_DUPLICATE_RECENT": int(env.get("PHOTO_DUPLICATE_RECENT", "3")),
        "PHOTO_DUPLICATE_DAYS": int(env.get("PHOTO_DUPLICATE_DAYS", "90")),
        "PHOTO_DUPLICATE_POOL": int(env.get("PHOTO_DUPLICATE_POOL", "20000")),
        "PHOTO_JOB_TIMEOUT": int(env.get("PHOTO_JOB_TIMEOUT", "300")),
        # An IFC upload may be larger than other requests; its import runs as a job.
        "MODEL_MAX_BYTES": int(env.get("MODEL_MAX_BYTES", str(512 * 1024 * 1024))),
        "MODEL_JOB_TIMEOUT": int(env.get("MODEL_JOB_TIMEOUT", "1800")),
        # The crack check: "classic" (the valley filter) or "net" (the network, opt-in: better
        # on masonry, worse on CrackForest, UAV75 and curtain walls; see bench/vision.py),
        # and what a candidate needs to become a finding: its length (in mm with a label of
        # known size in the photo, else in photo pixels) and its darkness against the surface
        # (in units of the surface's texture noise).
        "CRACK_DETECTOR": env.get("CRACK_DETECTOR", "classic"),
        "CRACK_MIN_LENGTH_MM": float(env.get("CRACK_MIN_LENGTH_MM", "30")),
        "CRACK_MIN_LENGTH_PX": float(env.get("CRACK_MIN_LENGTH_PX", "150")),
        "CRACK_MIN_CONTRAST": float(env.get("CRACK_MIN_CONTRAST", "1.5")),
        # Pixels one upload request may decode in all (each photo is decoded whole), and
        # seconds it may spend on checks with JOBS=inline before handing the rest over:
        # both well inside the web server's worker timeout.
        "PHOTO_UPLOAD_MAX_PIXELS": int(env.get("PHOTO_UPLOAD_MAX_PIXELS", "200000000")),
        "PHOTO_INLINE_BUDGET_S": float(env.get("PHOTO_INLINE_BUDGET_S", "20")),
        "EVIDENCE_MAX_HOURS": float(env.get("EVIDENCE_MAX_HOURS", "24")),
        "EVIDENCE_MAX_KM": float(env.get("EVIDENCE_MAX_KM", "1")),
        "RQ_QUEUE": env.get("RQ_QUEUE", "prefabtrace-photos"),
        "S3_BUCKET": env.get("S3_BUCKET", ""),
        "S3_PREFIX": env.get("S3_PREFIX", ""),
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL", ""),
        "S3_REGION": env.get("S3_REGION", ""),
        "REPORT_UTC_OFFSET_MINUTES": int(env.get("REPORT_UTC_OFFSET_MINUTES", "480")),
        "LEDGER_SEAL_INTERVAL_S": float(env.get("LEDGER_SEAL_INTERVAL_S", "0")),
        # /health says "degraded" when an event waits longer than this to be sealed.
        "LEDGER_SEAL_MAX_LAG_S": float(env.get("LEDGER_SEAL_MAX_LAG_S", "60")),
        "LEDGER_CHECKPOINT_HOURS": float(env.get("LEDGER_CHECKPOINT_HOURS", "24")),
        "LEDGER_CHECKPOINT_EXPORT": env.get(
            "LEDGER_CHECKPOINT_EXPORT", os.path.join(instance_path, "ledger-checkpoints.jsonl")),
        "LEDGER_BACKDATE_MINUTES": float(env.get("LEDGER_BACKDATE_MINUTES", "10")),
        # Webhooks: URLs may reach private/loopback hosts only when allowed (tests, labs);
        # the timeout is per attempt (connect, and each read); 12 attempts retry for about
        # 14.5 hours, waiting BACKOFF_S after the first failure, doubled after each, up to
        # BACKOFF_MAX_S; ledger events read per dispatch transaction, subscriptions claimed
        # at once, requests in flight at once (one per subscription); failures in a row
        # that open a circuit (0: never) and how long an open circuit sends nothing.
        "WEBHOOK_ALLOW_PRIVATE": env.get("WEBHOOK_ALLOW_PRIVATE", "").lower()
        in ("1", "true", "yes", "on"),
        "WEBHOOK_TIMEOUT_S": float(env.get("WEBHOOK_TIMEOUT_S", "10")),
        "WEBHOOK_MAX_ATTEMPTS": int(env.get("WEBHOOK_MAX_ATTEMPTS", "12")),
        "WEBHOOK_BACKOFF_S": float(env.get("WEBHOOK_BACKOFF_S", "30")),
        "WEBHOOK_BACKOFF_MAX_S": float(env.get("WEBHOOK_BACKOFF_MAX_S", "21600")),
        "WEBHOOK_DISPATCH_BATCH": int(env.get("WEBHOOK_DISPATCH_BATCH", "500")),
        "WEBHOOK_SEND_BATCH": int(env.get("WEBHOOK_SEND_BATCH", "50")),
        "WEBHOOK_SEND_WORKERS": int(env.get("WEBHOOK_SEND_WORKERS", "4")),
        "WEBHOOK_BREAKER_FAILURES": int(env.get("WEBHOOK_BREAKER_FAILURES", "10")),
        "WEBHOOK_BREAKER_COOLDOWN_S": float(env.get("WEBHOOK_BREAKER_COOLDOWN_S", "600")),
        "COPY_MAX_SPEED_KMH": float(env.get("COPY_MAX_SPEED_KMH", "120")),
        "COPY_GPS_TOLERANCE_KM": float(env.get("COPY_GPS_TOLERANCE_KM", "3")),
        "COPY_SITE_RADIUS_KM": float(env.get("COPY_SITE_RADIUS_KM", "2")),
        "COPY_SCAN_SLACK": int(env.get("COPY_SCAN_SLACK", "8")),

        "API_TITLE": "PrefabTrace",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs-assets/",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
            },
            "security": [{"bearer": []}],
        },
        "JSON_SORT_KEYS": False,
    }
    if overrides:
        config.update(overrides)
    # A server can drop connections, so test each one before use; a SQLite file cannot.
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
        "pool_pre_ping": not config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")})
    if config["SQLITE_SYNCHRONOUS"] not in ("NORMAL", "FULL", "EXTRA"):
        raise RuntimeError("SQLITE_SYNCHRONOUS is NORMAL, FULL or EXTRA")
    prefix = config["GS1_COMPANY_PREFIX"]
    if prefix and not (prefix.isascii() and prefix.isdigit() and 7 <= len(prefix) <= 10):
        raise RuntimeError("GS1_COMPANY_PREFIX has 7 to 10 digits (or is empty)")
    extension = config["GS1_SSCC_EXTENSION_DIGIT"]
    if not (len(extension) == 1 and extension in "0123456789"):
        raise RuntimeError("GS1_SSCC_EXTENSION_DIGIT is one digit")
    if config["ENV_NAME"] not in ENVIRONMENTS:
        # A typo ("prod", "Production") must not quietly get development secrets.
        raise RuntimeError(f"PREFABTRACE_ENV is one of {', '.join(ENVIRONMENTS)}, not "
                           f"{config['ENV_NAME']!r}")
    if config["ENV_NAME"] == "production" and config["SECRET_KEY"] == DEFAULT_SECRET:
        raise RuntimeError("SECRET_KEY must be set in production (PREFABTRACE_ENV=production)")
    if config["ENV_NAME"] == "production" and not os.path.exists(
            config["LABEL_SIGNING_KEY_FILE"]):
        # Elsewhere a key is made on first use; in production a key made by
        # accident would sign labels nobody has published or backed up.
        raise RuntimeError("LABEL_SIGNING_KEY_FILE must name an existing key in production "
                           "(create one with `flask labels new-key`)")
    if config["ENV_NAME"] == "production" and not os.path.exists(
            config["LEDGER_SIGNING_KEY_FILE"]):
        raise RuntimeError("LEDGER_SIGNING_KEY_FILE must name an existing key in production "
                           "(create one with `flask ledger new-key`)")
    return config
