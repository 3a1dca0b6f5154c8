"""What a photo's EXIF says about when and where it was taken, against what is claimed.

Missing EXIF is flagged, never refused: messaging apps strip it from genuine
photos. A time far from the claimed event, or a place far from the site, is
a warning for a person to look at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from PIL import Image

CHECK_VERSION = 1
EARTH_RADIUS_KM = 6371.0088
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _DATETIME = 36867, 36881, 306


@dataclass(frozen=True)
class ExifFacts:
    """The evidence in a photo's EXIF: when (with its zone if known) and where."""

    present: bool
    taken_at: datetime | None = None
    zone_known: bool = False
    latitude: float | None = None
    longitude: float | None = None
    camera: str | None = None


def _degrees(values, reference) -> float | None:
    try:
        degrees, minutes, seconds = (float(v) for v in values)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if isinstance(reference, bytes):
        reference = reference.decode("ascii", "replace")
    return -value if str(reference).strip().upper() in ("S", "W") else value


def _moment(text, offset, default_offset_minutes: int) -> tuple[datetime | None, bool]:
    if not isinstance(text, str):
        return None, False
    try:
        moment = datetime.strptime(text.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, False
    if isinstance(offset, str):
        try:
            parsed = datetime.strptime(offset.strip().rstrip("\x00"), "%z")
            return moment.replace(tzinfo=parsed.tzinfo), True
        except ValueError:
            pass
    # No zone recorded: the site's own zone is the best guess.
    return moment.replace(tzinfo=timezone(timedelta(minutes=default_offset_minutes))), False


def read_exif(image: Image.Image, default_offset_minutes: int = 480) -> ExifFacts:
    """Read the time, zone, GPS position and camera from an opened image's EXIF."""
    try:
        exif = image.getexif()
        if not exif:
            return ExifFacts(False)
        details = exif.get_ifd(_EXIF_IFD)
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # broken EXIF blocks raise many kinds; they are just absent evidence
        return ExifFacts(False)
    taken_at, zone_known = _moment(details.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME),
                                   details.get(_OFFSET_ORIGINAL), default_offset_minutes)
    latitude = longitude = None
    if gps:
        latitude = _degrees(gps.get(2), gps.get(1, "N"))
        longitude = _degrees(gps.get(4), gps.get(3, "E"))
        if latitude is None or longitude is None or not (
                -90 <= latitude <= 90 and -180 <= longitude <= 180) or (
                latitude == 0 and longitude == 0):
            latitude = longitude = None
    make, model = exif.get(271), exif.get(272)
    # Capped: a forged EXIF block can hold megabytes of "camera" for every view to carry.
    camera = " ".join(str(part).strip("\x00 ") for part in (make, model) if part)[:100] or None
    return ExifFacts(True, taken_at, zone_known, latitude, longitude, camera)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class EvidenceResult:
    """Whether the photo's time and place fit the claim, with the reasons."""

    exif_present: bool
    taken_at: str | None
    claimed_at: str | None
    hours_from_claim: float | None
    distance_from_site_km: float | None
    warnings: tuple[str, ...]
    version: int = CHECK_VERSION


def check_evidence(facts: ExifFacts, claimed_at: datetime | None,
                   site: tuple[float, float] | None, max_hours: float = 24.0,
                   max_km: float = 1.0) -> EvidenceResult:
    """Compare the EXIF time with the claimed time and the GPS position with the site."""
    warnings = []
    hours = distance = None
    if not facts.present:
        warnings.append("no-exif")
    elif facts.taken_at is None:
        warnings.append("no-time")
    if facts.taken_at is not None and claimed_at is not None:
        hours = abs((facts.taken_at - claimed_at).total_seconds()) / 3600
        if hours > max_hours:
            warnings.append("time-mismatch")
    if facts.present and facts.latitude is None:
        warnings.append("no-gps")
    if facts.latitude is not None and site is not None:
        distance = distance_km((facts.latitude, facts.longitude), site)
        if distance > max_km:
            warnings.append("far-from-site")
    return EvidenceResult(
        facts.present, facts.taken_at.isoformat() if facts.taken_at else None,
        claimed_at.isoformat() if claimed_at else None,
        round(hours, 2) if hours is not None else None,
        round(distance, 3) if distance is not None else None, tuple(warnings))
