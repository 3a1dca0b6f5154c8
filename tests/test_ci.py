"""In CI every layer runs: a skipped test fails the run there, and only there."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ("from tests.conftest import (pytest_runtest_logreport, pytest_sessionfinish,\n"
         "                            pytest_sessionstart, pytest_terminal_summary)\n")
LAYER = ("import pytest\n\n\ndef test_needs_redis():\n    pytest.skip('Redis is not running')\n\n\n"
         "def test_plain():\n    pass\n")


def _run(folder: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(folder), str(folder)], cwd=folder, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_a_skip_fails_the_run_in_ci_and_is_listed(tmp_path):
    (tmp_path / "conftest.py").write_text(HOOKS)
    (tmp_path / "test_layer.py").write_text(LAYER)
    database = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    in_ci = _run(tmp_path, CI="true", TEST_DATABASE_URL=database)
    assert in_ci.returncode == 1, in_ci.stdout
    assert "skipped in CI" in in_ci.stdout and "Redis is not running" in in_ci.stdout
    outside = _run(tmp_path, CI="", TEST_DATABASE_URL=database)
    assert outside.returncode == 0, outside.stdout


def test_ci_without_postgresql_refuses_to_start(tmp_path):
    (tmp_path / "conftest.py").write_text(HOOKS)
    (tmp_path / "test_layer.py").write_text("def test_plain():\n    pass\n")
    environment = {key: value for key, value in os.environ.items()
                   if key != "TEST_DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--rootdir", str(tmp_path), str(tmp_path)], cwd=tmp_path,
                            env={**environment, "PYTHONPATH": str(ROOT), "CI": "true"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "TEST_DATABASE_URL" in result.stdout + result.stderr


def test_a_large_upload_leaves_no_file_open(client):
    import gc
    import io
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = client.post("/api/v1/photos", content_type="multipart/form-data",
                               data={"file": (io.BytesIO(os.urandom(700_000)), "big.jpg")})
        assert response.status_code == 401
        del response
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
