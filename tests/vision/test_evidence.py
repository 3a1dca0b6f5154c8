"""EXIF evidence: time and place against the claim; missing EXIF flagged, not refused."""

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from vision.evidence import ExifFacts, check_evidence, distance_km, read_exif

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "photos" / "exif"
SITE = (30.272, 120.083)
CHINA = timezone(timedelta(hours=8))


def test_a_photo_taken_at_the_site_near_the_claimed_time_fits():
    facts = ExifFacts(True, datetime(2026, 11, 20, 10, tzinfo=CHINA), True, 30.2725, 120.0835)
    result = check_evidence(facts, datetime(2026, 11, 20, 2, 30, tzinfo=UTC), SITE)
    assert result.warnings == () and result.hours_from_claim == 0.5
    assert result.distance_from_site_km < 0.1


def test_time_and_place_far_from_the_claim_are_warnings():
    facts = ExifFacts(True, datetime(2026, 9, 1, 10, tzinfo=CHINA), True, 39.9, 116.4)
    result = check_evidence(facts, datetime(2026, 11, 20, 10, tzinfo=CHINA), SITE)
    assert set(result.warnings) == {"time-mismatch", "far-from-site"}
    assert result.distance_from_site_km == pytest.approx(distance_km((39.9, 116.4), SITE),
                                                         abs=0.01)


def test_missing_exif_is_only_a_flag():
    result = check_evidence(ExifFacts(False), datetime.now(UTC), SITE)
    assert result.warnings == ("no-exif",) and result.hours_from_claim is None


def test_exif_without_zone_uses_the_default_zone():
    tags = Image.Exif()
    tags[0x8769] = {36867: "2026:11:20 10:00:00"}
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG", exif=tags.tobytes())
    facts = read_exif(Image.open(buffer), default_offset_minutes=480)
    assert facts.taken_at == datetime(2026, 11, 20, 2, tzinfo=UTC)
    assert facts.zone_known is False and facts.latitude is None


@pytest.mark.skipif(not CORPUS.exists(), reason="EXIF corpus absent")
def test_real_gps_photos_and_broken_exif():
    with_gps = []
    for path in sorted((CORPUS / "gps").glob("*.jpg")):
        with Image.open(path) as image:
            with_gps.append(read_exif(image))
    assert with_gps and all(f.present for f in with_gps)
    located = [f for f in with_gps if f.latitude is not None]
    assert len(located) >= len(with_gps) // 2
    assert all(-90 <= f.latitude <= 90 and -180 <= f.longitude <= 180 for f in located)
    for path in sorted((CORPUS / "invalid").glob("*")):
        try:
            image = Image.open(path)
        except Exception:
            continue  # not even an image: the upload check refuses it earlier
        with image:
            read_exif(image)  # broken EXIF is absent evidence, never an exception
