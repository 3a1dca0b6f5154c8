"""`flask bim import`: the same import as the API, from the command line."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bim.synthetic import build_model, precast_pieces
from construction.extensions import db
from construction.models import Component
from tests.bim.test_model import corpus_file


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Component.id)).where(
            Component.ifc_global_id.is_not(None)))


def test_import_dry_run_then_for_real_then_again(app, world, runner, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "files")
    path = tmp_path / "tower.ifc"
    path.write_bytes(build_model(precast_pieces(15, storeys=3), storeys=3).to_string().encode())
    dry = runner.invoke(args=["bim", "import", "P-MAIN", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["added"] == 15 and _count(app) == 0
    assert json.loads(dry.stdout)["differences"][0]["change"] == "added"  # as its help says
    real = runner.invoke(args=["bim", "import", str(world.ids["project_main"]), str(path)])
    assert real.exit_code == 0, real.output
    report = json.loads(real.stdout)
    assert (report["status"], report["added"], report["dry_run"]) == ("done", 15, False)
    assert [s["elements"] for s in report["storeys"]] == [5, 5, 5]
    assert _count(app) == 15
    again = runner.invoke(args=["bim", "import", "P-MAIN", str(path)])
    assert again.exit_code == 0 and "imported before" in again.stderr
    assert json.loads(again.stdout)["id"] == report["id"] and _count(app) == 15


def test_the_tekla_model_imports_from_the_command_line(app, world, runner, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "files")
    result = runner.invoke(args=["bim", "import", "P-MAIN",
                                 str(corpus_file("precast_tekla_carwash.ifc"))])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 944 and _count(app) == 944


def test_bad_input_and_unknown_projects_fail_cleanly(app, world, runner, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "files")
    path = tmp_path / "broken.ifc"
    path.write_bytes(b"not a model")
    result = runner.invoke(args=["bim", "import", "P-MAIN", str(path)])
    assert result.exit_code == 1 and "not an IFC file" in result.output
    missing = runner.invoke(args=["bim", "import", "P-NONE", str(path)])
    assert missing.exit_code == 1 and "no project" in missing.output
    assert _count(app) == 0
