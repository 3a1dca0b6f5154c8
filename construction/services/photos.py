"""Site photos: hardened upload, content-addressed storage, checks, findings.

An upload is checked whole before anything is stored (type by magic bytes,
declared pixel count before decoding, a full decode to catch truncation);
the original is stored once by its SHA-256, with an upright copy without any
metadata for everyone to see. EXIF time and GPS stay in the database as
evidence. The checks run as jobs; each stores its own result and version.
"""

from __future__ import annotations

import functools
import hashlib
import io
import time
import warnings
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
from flask import current_app
from PIL import Image, ImageOps
from sqlalchemy import delete, or_, select

from construction import metrics
from construction.errors import ApiProblem
from construction.extensions import db, reading
from construction.identity import parse_scanned
from construction.models import (
    Component,
    Event,
    Finding,
    Label,
    Photo,
    PhotoCheck,
    PhotoComponent,
    Project,
    Storey,
)
from construction.pagination import Page, paginate
from construction.permissions import Principal, in_scope, project_in_scope, readable_or_404, require
from construction.services.decoding import open_image
from construction.services.labels import check_label_urls, is_label_url
from construction.services.scans import ScanItem, record_scans
from construction.storage import storage
from labels.codes import CodeError
from labels.render import LAYOUTS
from vision import cracks as crack_check
from vision import duplicates
from vision import labels as label_check
from vision import quality as quality_check
from vision.evidence import ExifFacts, check_evidence, read_exif

CHECKS = ("labels", "quality", "cracks", "duplicates", "evidence", "progress")
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_MEDIA = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


# --- upload ------------------------------------------------------------------


class Upload:
    """One checked upload, ready to store."""

    def __init__(self, name: str, data: bytes, kind: str, display: bytes, width: int,
                 height: int, facts: ExifFacts):
        self.name, self.data, self.kind, self.display = name, data, kind, display
        self.width, self.height, self.facts = width, height, facts
        self.content_hash = hashlib.sha256(data).hexdigest()


def _open_upload(name: str, data: bytes) -> tuple[str, Image.Image]:
    """Open one uploaded file's header: its type, size and declared pixels, nothing decoded."""
    config = current_app.config
    if not data:
        raise ApiProblem("unreadable-image", f"{name}: the file is empty", file=name)
    if len(data) > config["PHOTO_MAX_BYTES"]:
        raise ApiProblem("payload-too-large",
                         f"{name}: larger than {config['PHOTO_MAX_BYTES']:,} bytes", file=name)
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd EXIF entries; metadata is evidence at best, never a
            # reason to refuse the pixels.
            warnings.simplefilter("ignore", UserWarning)
            return open_image(data, config["PHOTO_MAX_PIXELS"])
    except ApiProblem as problem:
        problem.detail = f"{name}: {problem.detail}"
        problem.extra["file"] = name
        raise


def check_upload(name: str, data: bytes) -> Upload:
    """Check one uploaded file whole and make its upright, metadata-free copy."""
    kind, image = _open_upload(name, data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # as in _open_upload
            image.load()  # a truncated file fails here, not later in a check
            facts = read_exif(image, current_app.config["PHOTO_UTC_OFFSET_MINUTES"])
            # In place, and no conversion an RGB or grey image does not need: each copy of
            # a 50 MP photo is another 150 MB in the worker.
            ImageOps.exif_transpose(image, in_place=True)
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        buffer = io.BytesIO()
        # A new encoding carries no EXIF: no GPS, no camera serial leaves with it.
        image.save(buffer, "JPEG", quality=88)
    except (OSError, ValueError, SyntaxError) as error:
        raise ApiProblem("unreadable-image", f"{name}: the {kind} data is broken: {error}",
                         file=name) from error
    return Upload(name, data, kind, buffer.getvalue(), image.width, image.height, facts)


def _check_upload_size(files: list[tuple[str, bytes]]) -> None:
    """Refuse an upload whose files declare more pixels in all than one request may decode."""
    budget = current_app.config["PHOTO_UPLOAD_MAX_PIXELS"]
    declared = 0
    for name, data in files:
        _, image = _open_upload(name, data)
        declared += image.width * image.height
        image.close()
    if declared > budget:
        raise ApiProblem("image-too-large",
                         f"the {len(files)} photos declare {declared:,} pixels in all, more "
                         f"than the {budget:,} one upload may carry: send them in several "
                         "uploads", max_upload_pixels=budget, declared_pixels=declared)


def _placement(principal: Principal, fields: dict[str, Any]) -> dict[str, Any]:
    """Resolve what the photos document into a project the principal works on.

    An event, component, storey or project outside the principal's projects is answered
    as one that does not exist: the answer tells nothing of other tenants.
    """
    project_id = fields.get("project_id")
    component_id, storey_id, event_id = (fields.get("component_id"), fields.get("storey_id"),
                                         fields.get("event_id"))

    @functools.cache
    def writable(found_project_id: int) -> bool:  # one query per project, however named
        return project_in_scope(principal, found_project_id, write=True)

    def ours(found_project_id: int | None, noun: str, object_id: int) -> int:
        # Found out here, before any file is written, not by the foreign key on insert.
        if found_project_id is None or not writable(found_project_id):
            raise ApiProblem("not-found", f"no {noun} {object_id}"
                             + (" you take part in" if noun == "project" else ""))
        return found_project_id

    implied = []
    event = None
    if event_id is not None:
        event = db.session.get(Event, event_id)
        # Its component is then in the session: the lookup below reads it from there.
        ours(db.session.get(Component, event.component_id).project_id if event else None,
             "event", event_id)
        component_id = component_id or event.component_id
        if component_id != event.component_id:
            raise ApiProblem("validation-error", "the event is of another component",
                             errors={"event_id": ["Not an event of this component."]})
    if component_id is not None:
        component = db.session.get(Component, component_id)
        implied.append(ours(component.project_id if component else None, "component",
                            component_id))
        storey_id = storey_id or component.storey_id
    if storey_id is not None:
        implied.append(ours(db.session.scalar(
            select(Project.id).select_from(Storey).join(Storey.building).join(Project)
            .where(Storey.id == storey_id)),
            "storey", storey_id))
    if project_id is not None:
        implied.append(ours(project_id, "project", project_id))
    if not implied:
        raise ApiProblem("validation-error", "say what the photos document: project_id, "
                         "component_id, storey_id or event_id",
                         errors={"project_id": ["Missing data for required field."]})
    if len(set(implied)) > 1:
        raise ApiProblem("validation-error", "the component, storey and project do not match",
                         errors={"project_id": ["Does not match the component or storey."]})
    project_id = implied[0]
    claimed_at = fields.get("claimed_at")
    if claimed_at is None and event is not None:
        claimed_at = event.client_time or event.server_time
    return {"project_id": project_id, "component_id": component_id, "storey_id": storey_id,
            "event_id": event_id, "claimed_at": claimed_at}


def _exif_view(facts: ExifFacts) -> dict[str, Any]:
    return {"present": facts.present,
            "taken_at": facts.taken_at.isoformat() if facts.taken_at else None,
            "zone_known": facts.zone_known, "latitude": facts.latitude,
            "longitude": facts.longitude, "camera": facts.camera}


def store_photos(principal: Principal, files: list[tuple[str, bytes]],
                 fields: dict[str, Any]) -> list[tuple[Photo, bool]]:
    """Check every file, then store them all; return each photo and whether it is new.

    The same file sent again to the same project is the same photo (a retried
    upload never makes a second one).
    """
    require(principal, "photo.upload")
    if not files:
        raise ApiProblem("validation-error", "send one or more files in the field 'image'",
                         errors={"image": ["Missing data for required field."]})
    if len(files) > current_app.config["PHOTO_MAX_FILES"]:
        raise ApiProblem("validation-error",
                         f"at most {current_app.config['PHOTO_MAX_FILES']} photos per upload",
                         errors={"image": ["Too many files."]})
    # Every header first (cheap), then where the photos go, then the slow decoding:
    # a refusal on any of them stores nothing and costs little.
    _check_upload_size(files)
    with reading():
        # Read without SQLite's write lock, and let go of the snapshot before decoding:
        # every other writer (each scan) would wait on it for the seconds decoding takes.
        _placement(principal, fields)
    uploads = [check_upload(name, data) for name, data in files]  # all, before storing any
    with reading():
        # Photos are never deleted: a file some photo has is stored already.
        stored = set(db.session.scalars(select(Photo.content_hash).where(
            Photo.content_hash.in_({upload.content_hash for upload in uploads}))))
    store = storage()
    for upload in uploads:
        if upload.content_hash in stored:
            continue
        # Files first, outside any transaction: a row never points at a file that is not
        # there, and a file under its content hash is the same whoever writes it.
        store.put(_original_key(upload), upload.data, _MEDIA[upload.kind])
        store.put(_display_key(upload), upload.display, "image/jpeg")
    return _insert_photos(principal, fields, uploads)


def _original_key(upload: Upload) -> str:
    digest = upload.content_hash
    return f"originals/{digest[:2]}/{digest}.{_EXTENSIONS[upload.kind]}"


def _display_key(upload: Upload) -> str:
    return f"display/{upload.content_hash[:2]}/{upload.content_hash}.jpg"


def _insert_photos(principal: Principal, fields: dict[str, Any],
                   uploads: list[Upload]) -> list[tuple[Photo, bool]]:
    """Write the rows of checked, stored uploads in one short transaction."""
    # Again, now under the write lock: a few indexed reads, and the project may have
    # gone or the principal's organization left it while the files were decoded.
    placement = _placement(principal, fields)
    existing = {photo.content_hash: photo for photo in db.session.scalars(select(Photo).where(
        Photo.project_id == placement["project_id"],
        Photo.content_hash.in_({upload.content_hash for upload in uploads})))}
    results = []
    for upload in uploads:
        if upload.content_hash in existing:
            results.append((existing[upload.content_hash], False))
            continue
        facts = upload.facts
        photo = Photo(
            content_hash=upload.content_hash, media_type=_MEDIA[upload.kind],
            size_bytes=len(upload.data), width=upload.width, height=upload.height,
            display_key=_display_key(upload), original_name=upload.name[:200],
            uploaded_by_user_id=principal.user_id, organization_id=principal.organization_id,
            exif=_exif_view(facts), taken_at=facts.taken_at, latitude=facts.latitude,
            longitude=facts.longitude, status="pending", **placement)
        db.session.add(photo)
        db.session.flush()
        for check in CHECKS:
            db.session.add(PhotoCheck(photo_id=photo.id, check=check, status="pending"))
        existing[upload.content_hash] = photo  # the same file twice in one upload: one photo
        results.append((photo, True))
    db.session.commit()
    return results


# --- reading -----------------------------------------------------------------


def photo_for_reading(principal: Principal, photo_id: int) -> Photo:
    """Return a photo the principal may read, or raise 404."""
    return readable_or_404(principal, Photo, photo_id, "photo")


def list_photos(principal: Principal, filters: dict[str, Any], page: int,
                per_page: int) -> Page:
    """List photos the principal may read, newest first."""
    query = in_scope(select(Photo), principal, Photo.project_id)
    for name in ("project_id", "component_id", "storey_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(Photo, name) == filters[name])
    if filters.get("status") is not None:
        # A photo with a stalled check is failed, whatever its row still says.
        stalled = _stalled_photo_ids(_stalled_cutoff())
        query = query.where(or_(Photo.status == "failed", Photo.id.in_(stalled))
                            if filters["status"] == "failed" else
                            (Photo.status == filters["status"]) & Photo.id.not_in(stalled))
    return paginate(query.order_by(Photo.id.desc()), page, per_page)


def photo_views(photos: list[Photo]) -> list[dict[str, Any]]:
    """Return photos with their checks, the components they show and their findings.

    Three queries for a whole page of photos, not three per photo.
    """
    ids = [photo.id for photo in photos]
    cutoff = _stalled_cutoff()
    rows: dict[int, list[PhotoCheck]] = {i: [] for i in ids}
    checks: dict[int, dict] = {i: {} for i in ids}
    shown: dict[int, list] = {i: [] for i in ids}
    findings: dict[int, list] = {i: [] for i in ids}
    if ids:
        for check in db.session.scalars(select(PhotoCheck).where(PhotoCheck.photo_id.in_(ids))
                                        .order_by(PhotoCheck.id)):
            rows[check.photo_id].append(check)
        for photo in photos:
            # Nothing has happened to the photo since the cutoff: its worker died.
            idle = photo.uploaded_at < cutoff and all(
                check.started_at is None or check.started_at < cutoff
                for check in rows[photo.id])
            for check in rows[photo.id]:
                status, error = check.status, check.error or None
                if status == "running" and check.started_at and check.started_at < cutoff:
                    status = "failed"  # shown as failed, re-run by reanalyse --failed
                    error = error or "stalled: its worker stopped while it ran"
                elif status == "pending" and idle:
                    status = "failed"
                    error = error or "stalled: it never started"
                checks[photo.id][check.check] = {
                    "status": status, "version": check.version, "result": check.result,
                    "error": error, "attempts": check.attempts,
                    "finished_at": check.finished_at}
        for row in db.session.scalars(select(PhotoComponent).where(
                PhotoComponent.photo_id.in_(ids)).order_by(PhotoComponent.id)):
            shown[row.photo_id].append({"component_id": row.component_id, "genuine": row.genuine,
                                        "points": row.points,
                                        "pixels_per_module": row.pixels_per_module})
        for finding in db.session.scalars(select(Finding).where(Finding.photo_id.in_(ids))
                                          .order_by(Finding.id)):
            findings[finding.photo_id].append(finding)
    views = []
    for photo in photos:
        view = {column.key: getattr(photo, column.key) for column in Photo.__table__.columns
                if column.key not in ("fingerprint", "display_key")}
        if view["exif"]:
            # The position stays evidence for the record; it is not shown to everyone.
            view["exif"] = {**view["exif"], "latitude": None, "longitude": None,
                            "has_gps": view["exif"].get("latitude") is not None}
        view.pop("latitude"), view.pop("longitude")
        if any(check["status"] == "failed" for check in checks[photo.id].values()):
            view["status"] = "failed"
        view.update(checks=checks[photo.id], components=shown[photo.id],
                    findings=findings[photo.id], image_url=f"/api/v1/photos/{photo.id}/image",
                    overlay_url=f"/api/v1/photos/{photo.id}/overlay")
        views.append(view)
    return views


def _stalled_cutoff() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=current_app.config["PHOTO_JOB_TIMEOUT"])


def _stalled_photo_ids(cutoff: datetime):
    """Photos with a check its worker will never finish (a SELECT of photo ids).

    Running since before the cutoff, or not started on a photo that nothing has
    happened to since the cutoff (the worker that had it was killed first).
    """
    active = select(PhotoCheck.photo_id).where(PhotoCheck.started_at >= cutoff)
    old = select(Photo.id).where(Photo.uploaded_at < cutoff)
    return select(PhotoCheck.photo_id).where(or_(
        (PhotoCheck.status == "running") & (PhotoCheck.started_at < cutoff),
        (PhotoCheck.status == "pending") & PhotoCheck.photo_id.in_(old)
        & PhotoCheck.photo_id.not_in(active)))


def photos_to_rerun(failed: bool = False, pending: bool = False) -> list[int]:
    """Photos whose checks need running again: failed or stalled, and/or never started."""
    conditions = []
    if failed:
        conditions.append(Photo.id.in_(_stalled_photo_ids(_stalled_cutoff())))
        conditions.append(Photo.id.in_(select(PhotoCheck.photo_id).where(
            PhotoCheck.status == "failed")))
    if pending:
        conditions.append(Photo.id.in_(select(PhotoCheck.photo_id).where(
            PhotoCheck.status == "pending")))
    if not conditions:
        return []
    return list(db.session.scalars(select(Photo.id).where(or_(*conditions)).order_by(Photo.id)))


def photo_view(photo: Photo) -> dict[str, Any]:
    """Return one photo with its checks, the components it shows and its findings."""
    return photo_views([photo])[0]


def display_image(photo: Photo, max_side: int | None = None) -> bytes:
    """Return the upright, metadata-free JPEG of a photo, at most `max_side` pixels wide/high."""
    data = storage().get(photo.display_key)
    if max_side is None:
        return data
    longest = max(photo.width, photo.height)
    if longest <= max_side:
        return data
    # libjpeg scales by 1/2, 1/4 or 1/8 while decoding: far less work than full size.
    factor = next((f for f in (8, 4, 2) if longest / f >= max_side), 1)
    flags = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4,
             2: cv2.IMREAD_REDUCED_COLOR_2, 1: cv2.IMREAD_COLOR}[factor]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        return data
    scale = max_side / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 82])[1].tobytes()


# --- checks ------------------------------------------------------------------


def _load(photo: Photo, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(display_image(photo), np.uint8), flags)
    if image is None:
        raise RuntimeError("the stored display copy cannot be decoded")
    return image


def _plain(value: Any) -> Any:
    """Turn a result dataclass into JSON-able values (no numpy, no masks)."""
    if hasattr(value, "__dataclass_fields__"):
        value = asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def analyse_photo(photo_id: int, checks: list[str] | None = None) -> None:
    """Run a photo's checks in order, storing each result (or its failure) as it ends."""
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        return
    wanted = [name for name in CHECKS if checks is None or name in checks]
    context: dict[str, Any] = {}
    image = None
    for name in CHECKS:
        if name not in wanted and name != "labels":
            continue
        row = db.session.scalar(select(PhotoCheck).where(PhotoCheck.photo_id == photo_id,
                                                         PhotoCheck.check == name))
        if row is None:
            row = PhotoCheck(photo_id=photo_id, check=name, status="pending", attempts=0)
            db.session.add(row)
        if name not in wanted:
            # Later checks need the labels: reuse the stored result.
            context["labels"] = (row.result or {}).get("labels", [])
            continue
        row.status, row.started_at, row.error = "running", datetime.now(UTC), ""
        row.attempts = (row.attempts or 0) + 1
        db.session.commit()
        started = time.monotonic()
        try:
            if image is None and name not in ("evidence", "progress"):
                # Once per analysis, grey and whole: every check works on grey, labels need
                # every pixel, and grey is a third of the memory of colour (50 MB, not 150,
                # for a 50 MP photo); the others shrink it themselves.
                image = _load(photo, cv2.IMREAD_GRAYSCALE)
            version, result = RUNNERS[name](photo, image, context)
            row = db.session.get(PhotoCheck, row.id)
            row.status, row.version, row.result = "done", version, _plain(result)
        except Exception as error:  # a check's failure is stored, never lost
            db.session.rollback()
            current_app.logger.exception("photo %s check %s failed", photo_id, name)
            row = db.session.get(PhotoCheck, row.id)
            row.status = "failed"
            # Readers see that it failed and how to find out why; the message itself
            # (SQL, storage addresses, library paths) stays in the service log.
            row.error = (f"{type(error).__name__}: the check failed; the service log has "
                         f"why (photo {photo_id}, check {name})")
        row.finished_at = datetime.now(UTC)
        db.session.commit()
        metrics.PHOTO_CHECK_SECONDS.labels(name, row.status).observe(time.monotonic() - started)
    statuses = set(db.session.scalars(select(PhotoCheck.status).where(
        PhotoCheck.photo_id == photo_id)))
    photo = db.session.get(Photo, photo_id)
    photo.status = ("failed" if "failed" in statuses else
                    "done" if statuses <= {"done"} else "pending")
    db.session.commit()


def _label_scale_mm_per_px(found: list[dict[str, Any]]) -> float | None:
    """Millimetres per pixel from the best-resolved label of known printed size."""
    best = None
    for label in found:
        layout = LAYOUTS.get(label.get("layout") or "")
        if layout is None or not label.get("side_px"):
            continue
        modules = label["modules"]
        symbol_mm = layout.qr_mm * modules / (modules + 2 * layout.quiet_modules)
        scale = symbol_mm / label["side_px"]
        if best is None or label["side_px"] > best[0]:
            best = (label["side_px"], scale)
    return best[1] if best else None


def _run_labels(photo: Photo, image: np.ndarray, context: dict) -> tuple[int, Any]:
    found = label_check.find_labels(image).labels
    checks = check_label_urls([f.text for f in found if is_label_url(f.text)])
    db.session.execute(delete(PhotoComponent).where(PhotoComponent.photo_id == photo.id))
    labels, linked = [], set()
    for item in found:
        check = checks.get(item.text)
        component_id = check.component_id if check else None
        if check is None:
            try:
                key = parse_scanned(item.text)
                if key.kind == "code":
                    component_id = db.session.scalar(select(Component.id).where(
                        Component.code == key.code))
            except CodeError:
                component_id = None
        project_id = db.session.scalar(select(Component.project_id).where(
            Component.id == component_id)) if component_id else None
        layout = db.session.scalar(select(Label.last_layout).where(
            Label.id == check.label_id)) if check and check.label_id else None
        entry = {"text": item.text, "points": [list(p) for p in item.points],
                 "engine": item.engine, "side_px": item.side_px, "modules": item.modules,
                 "pixels_per_module": item.pixels_per_module, "layout": layout,
                 "component_id": component_id if project_id == photo.project_id else None,
                 "other_project": component_id is not None and project_id != photo.project_id,
                 "genuine": check.genuine if check else None,
                 "label_status": check.reason if check else None}
        labels.append(entry)
        if entry["component_id"] is not None and entry["component_id"] not in linked:
            linked.add(entry["component_id"])
            db.session.add(PhotoComponent(
                photo_id=photo.id, component_id=entry["component_id"],
                label_id=check.label_id if check else None,
                genuine=check.genuine if check else None, points=entry["points"],
                pixels_per_module=item.pixels_per_module))
    context["labels"] = labels
    return label_check.CHECK_VERSION, {"labels": labels, "components": sorted(linked)}


def _run_quality(photo: Photo, image: np.ndarray, context: dict) -> tuple[int, Any]:
    points = [[tuple(p) for p in label["points"]] for label in context.get("labels", [])]
    return quality_check.CHECK_VERSION, quality_check.assess_quality(image, points)


def _finding(photo: Photo, kind: str, component_id: int | None, detail: dict) -> None:
    existing = db.session.scalar(select(Finding).where(
        Finding.photo_id == photo.id, Finding.kind == kind,
        Finding.component_id.is_(None) if component_id is None
        else Finding.component_id == component_id))
    if existing is not None:
        if existing.status == "open":
            existing.detail = detail
        return
    db.session.add(Finding(photo_id=photo.id, kind=kind, component_id=component_id,
                           project_id=photo.project_id, detail=detail))


def _subject(photo: Photo, context: dict) -> int | None:
    """The component a finding is about: the one named, else the only one shown."""
    if photo.component_id is not None:
        return photo.component_id
    shown = {label["component_id"] for label in context.get("labels", [])
             if label.get("component_id")}
    return shown.pop() if len(shown) == 1 else None


def _run_cracks(photo: Photo, image: np.ndarray, context: dict) -> tuple[int, Any]:
    found = context.get("labels", [])
    scale = _label_scale_mm_per_px(found)
    # The labels' own printed lines are not cracks.
    outlines = [label_check.label_outline(label["points"], label["modules"], label.get("layout"))
                for label in found]
    ignore = label_check.labels_mask(image.shape[:2], outlines) if found else None
    config = current_app.config
    result = crack_check.detect_cracks(image, mm_per_px=scale, ignore=ignore,
                                       method=config["CRACK_DETECTOR"])
    mask_key = None
    if result.segments:
        mask_key = (f"masks/{photo.content_hash[:2]}/{photo.content_hash}"
                    f"-v{crack_check.CHECK_VERSION}.png")
        # A bilevel PNG takes the 0/1 mask as it is: no photo-sized copy of it.
        ok, png = cv2.imencode(".png", result.mask.view(np.uint8), [cv2.IMWRITE_PNG_BILEVEL, 1])
        storage().put(mask_key, png.tobytes(), "image/png")
    findings = [s for s in result.segments if _crack_worth_a_look(s, config)]
    if findings:
        bands = [s.width_band for s in findings if s.width_band]
        _finding(photo, "crack", _subject(photo, context),
                 {"segments": len(findings), "candidates": len(result.segments),
                  "mm_per_px": scale,
                  "longest_mm": max((s.length_mm or 0) for s in findings) or None,
                  "longest_px": max(s.length_px for s in findings),
                  "width_band": max(bands, key=crack_check.WIDTH_BANDS.index) if bands else None,
                  "width_bands": {band: bands.count(band) for band in crack_check.WIDTH_BANDS}
                  if bands else None})
    view = _plain(result)
    for shown, segment in zip(view["segments"], result.segments, strict=True):
        shown["finding"] = _crack_worth_a_look(segment, config)
    view.update(mm_per_px=scale, mask_key=mask_key)
    return crack_check.CHECK_VERSION, view


def _crack_worth_a_look(segment, config) -> bool:
    """Tell whether a crack candidate is long and dark enough to become a finding."""
    return crack_check.worth_a_look(segment, config["CRACK_MIN_LENGTH_MM"],
                                    config["CRACK_MIN_LENGTH_PX"], config["CRACK_MIN_CONTRAST"])


def _thumbnail(photo_id: int) -> np.ndarray:
    # A quarter-size grey decode is several times faster, and matching works at 640 px grey.
    key = db.session.scalar(select(Photo.display_key).where(Photo.id == photo_id))
    return cv2.imdecode(np.frombuffer(storage().get(key), np.uint8),
                        cv2.IMREAD_REDUCED_GRAYSCALE_4)


def _run_duplicates(photo: Photo, image: np.ndarray, context: dict) -> tuple[int, Any]:
    fingerprint = duplicates.fingerprint(image)
    photo.fingerprint = fingerprint.to_bytes()
    # Earlier photos of this project, and of the same organization anywhere
    # lately: a photo re-used from another site is the likelier fraud.
    since = datetime.now(UTC) - timedelta(days=current_app.config["PHOTO_DUPLICATE_DAYS"])
    rows = db.session.execute(
        select(Photo.id, Photo.project_id, Photo.fingerprint).where(
            or_(Photo.project_id == photo.project_id,
                (Photo.organization_id == photo.organization_id) & (Photo.uploaded_at >= since)),
            Photo.id != photo.id, Photo.fingerprint.is_not(None))
        .order_by(Photo.id.desc()).limit(current_app.config["PHOTO_DUPLICATE_POOL"])).all()
    earlier = [(row.id, duplicates.PhotoFingerprint.from_bytes(row.fingerprint),
                lambda photo_id=row.id: _thumbnail(photo_id)) for row in rows]
    projects = {row.id: row.project_id for row in rows}
    # Crops tighter than the hashes allow are still caught against the latest
    # few photos of the project, compared by their features whatever the hashes say.
    recent = [row.id for row in rows if row.project_id == photo.project_id][
        :current_app.config["PHOTO_DUPLICATE_RECENT"]]
    result = duplicates.find_duplicates(image, fingerprint, earlier, always_confirm=recent)
    matches = [{"photo_id": found.key, "project_id": projects[found.key],
                "hash_distance": found.hash_distance, **_plain(found.match)}
               for found in result.duplicates]
    if matches:
        _finding(photo, "duplicate", _subject(photo, context), {"matches": matches})
    return duplicates.CHECK_VERSION, {"duplicate_of": [m["photo_id"] for m in matches],
                                      "matches": matches,
                                      "candidates_checked": result.candidates_checked}


def _run_evidence(photo: Photo, image: np.ndarray | None, context: dict) -> tuple[int, Any]:
    config = current_app.config
    exif = photo.exif or {}
    taken_at = datetime.fromisoformat(exif["taken_at"]) if exif.get("taken_at") else None
    facts = ExifFacts(bool(exif.get("present")), taken_at, bool(exif.get("zone_known")),
                      photo.latitude, photo.longitude, exif.get("camera"))
    project = db.session.get(Project, photo.project_id)
    site = ((project.latitude, project.longitude)
            if project.latitude is not None and project.longitude is not None else None)
    result = check_evidence(facts, photo.claimed_at, site, config["EVIDENCE_MAX_HOURS"],
                            config["EVIDENCE_MAX_KM"])
    serious = [w for w in result.warnings if w in ("time-mismatch", "far-from-site")]
    if serious:
        _finding(photo, "evidence", _subject(photo, context),
                 {"warnings": serious, "hours_from_claim": result.hours_from_claim,
                  "distance_from_site_km": result.distance_from_site_km})
    return result.version, result


def _run_progress(photo: Photo, image: np.ndarray | None, context: dict) -> tuple[int, Any]:
    if photo.storey_id is None:
        return 1, {"storey_id": None}
    planned = list(db.session.scalars(select(Component.id).where(
        Component.storey_id == photo.storey_id).order_by(Component.id)))
    shown = {label["component_id"] for label in context.get("labels", [])
             if label.get("component_id")}
    return 1, {"storey_id": photo.storey_id, "planned": len(planned),
               "shown": [cid for cid in planned if cid in shown],
               "not_of_this_storey": sorted(shown - set(planned))}


RUNNERS = {"labels": _run_labels, "quality": _run_quality, "cracks": _run_cracks,
           "duplicates": _run_duplicates, "evidence": _run_evidence,
           "progress": _run_progress}


# --- findings and progress ---------------------------------------------------------


def decide_finding(principal: Principal, finding_id: int, decision: str, outcome: str,
                   note: str) -> Finding:
    """Confirm a finding (holding the component or opening an NCR) or dismiss it.

    The hold or NCR is recorded as a lifecycle event by the deciding person,
    through the same path as a scan, so the ledger says who decided.
    """
    require(principal, "photo.decide")
    finding = readable_or_404(principal, Finding, finding_id, "finding")
    wanted_status = "confirmed" if decision == "confirm" else "dismissed"
    if finding.status != "open":
        if finding.status == wanted_status and (decision == "dismiss"
                                                or finding.outcome == outcome):
            return finding  # the same decision again: nothing more happens
        raise ApiProblem("conflict", f"finding {finding_id} is already {finding.status}",
                         current_status=finding.status)
    event_id = None
    if decision == "confirm" and outcome in ("hold", "ncr"):
        if finding.component_id is None:
            raise ApiProblem("validation-error", "this finding names no component to act on",
                             errors={"outcome": ["Use 'none' for a finding without a "
                                                 "component."]})
        action = "hold" if outcome == "hold" else "qc_fail"
        result = record_scans(principal, [ScanItem(
            code=str(finding.component_id), action=action,
            client_event_id=f"finding-{finding.id}-{action}",
            data={"finding_id": finding.id, "photo_id": finding.photo_id,
                  "kind": finding.kind, "note": note})])[0]
        if result.outcome == "rejected":
            raise result.problem
        event_id = result.event["id"]
        finding = db.session.get(Finding, finding_id)
    finding.status = wanted_status
    finding.outcome = outcome if decision == "confirm" else "none"
    finding.event_id = event_id
    finding.decided_by_user_id = principal.user_id
    finding.decided_at = datetime.now(UTC)
    finding.note = note
    db.session.commit()
    return finding


def storey_photo_progress(principal: Principal, storey_id: int) -> dict[str, Any]:
    """Each planned component of a storey, and the photos that show it."""
    row = db.session.execute(select(Storey.id, Storey.name, Project.id.label("project_id"))
                             .join(Storey.building).join(Project)
                             .where(Storey.id == storey_id)).first()
    if row is None or not project_in_scope(principal, row.project_id):
        raise ApiProblem("not-found", f"no storey {storey_id}")
    components = db.session.execute(
        select(Component.id, Component.code, Component.mark, Component.state)
        .where(Component.storey_id == storey_id).order_by(Component.install_sequence,
                                                          Component.id)).all()
    photos: dict[int, list[int]] = {}
    for component_id, photo_id in db.session.execute(
            select(PhotoComponent.component_id, PhotoComponent.photo_id)
            .where(PhotoComponent.component_id.in_([c.id for c in components]))
            .order_by(PhotoComponent.photo_id)):
        photos.setdefault(component_id, []).append(photo_id)
    items = [{"id": c.id, "code": c.code, "mark": c.mark, "state": c.state,
              "photo_ids": photos.get(c.id, []), "verified_by_photo": c.id in photos}
             for c in components]
    return {"storey_id": storey_id, "storey": row.name, "planned": len(items),
            "verified_by_photo": sum(1 for item in items if item["verified_by_photo"]),
            "components": items}


def overlay_image(photo: Photo) -> bytes:
    """Return the photo with its label boxes and crack candidates drawn on it."""
    image = _load(photo)
    checks = {row.check: row for row in db.session.scalars(
        select(PhotoCheck).where(PhotoCheck.photo_id == photo.id))}
    cracks = checks.get("cracks")
    if cracks is not None and cracks.result and cracks.result.get("mask_key"):
        mask = cv2.imdecode(np.frombuffer(storage().get(cracks.result["mask_key"]), np.uint8),
                            cv2.IMREAD_GRAYSCALE)
        if mask is not None and mask.shape == image.shape[:2]:
            # Thicken thin crack lines so they show at any zoom.
            shown = cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0
            image[shown] = (0.4 * image[shown] + 0.6 * np.array([0, 0, 255])).astype(np.uint8)
    labels = checks.get("labels")
    thickness = max(2, round(max(image.shape[:2]) / 400))
    for label in (labels.result or {}).get("labels", []) if labels is not None else []:
        color = (0, 200, 0) if label.get("genuine") else (0, 165, 255) \
            if label.get("genuine") is None else (0, 0, 255)
        points = np.array(label["points"], np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [points], True, color, thickness)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return jpeg.tobytes()
