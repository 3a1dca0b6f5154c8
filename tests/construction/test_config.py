"""Configuration: documented values work as written."""

import os
import uuid

import flask_migrate
import pytest

from app import create_app
from construction.config import load_config
from construction.extensions import db


def test_the_documented_relative_sqlite_url_names_the_project_instance_folder(monkeypatch,
                                                                             tmp_path):
    monkeypatch.setenv("DATABASE_URL", "sqlite:///instance/prefabtrace.db")
    config = load_config(str(tmp_path / "instance"))
    assert config["SQLALCHEMY_DATABASE_URI"] == \
        f"sqlite:///{tmp_path / 'instance' / 'prefabtrace.db'}"
    for url in ("sqlite:////abs/x.db", "sqlite://", "sqlite:///:memory:",
                "postgresql+psycopg://u@h/db"):
        monkeypatch.setenv("DATABASE_URL", url)
        assert load_config(str(tmp_path / "instance"))["SQLALCHEMY_DATABASE_URI"] == url


def test_an_app_migrates_the_database_the_documented_url_names(monkeypatch):
    name = f"config-test-{uuid.uuid4().hex}.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///instance/{name}")
    app = create_app({"TESTING": True})
    path = os.path.join(app.instance_path, name)
    try:
        with app.app_context():
            flask_migrate.upgrade()
            db.engine.dispose()
        assert os.path.getsize(path) > 0
    finally:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)


def test_an_unknown_environment_name_is_refused_not_treated_as_development(monkeypatch,
                                                                          tmp_path):
    for name in ("prod", "Production", "production ", "staging"):
        monkeypatch.setenv("PREFABTRACE_ENV", name)
        with pytest.raises(RuntimeError, match="PREFABTRACE_ENV"):
            load_config(str(tmp_path / "instance"))
    monkeypatch.setenv("PREFABTRACE_ENV", "development")
    assert load_config(str(tmp_path / "instance"))["ENV_NAME"] == "development"


def test_a_malformed_gs1_company_prefix_or_extension_digit_is_refused(monkeypatch, tmp_path):
    for prefix in ("123456", "12345678901", "69O1234", "６９０１２３４"):
        monkeypatch.setenv("GS1_COMPANY_PREFIX", prefix)
        with pytest.raises(RuntimeError, match="GS1_COMPANY_PREFIX"):
            load_config(str(tmp_path / "instance"))
    monkeypatch.setenv("GS1_COMPANY_PREFIX", "6901234")
    for digit in ("10", "３", ""):
        monkeypatch.setenv("GS1_SSCC_EXTENSION_DIGIT", digit)
        with pytest.raises(RuntimeError, match="GS1_SSCC_EXTENSION_DIGIT"):
            load_config(str(tmp_path / "instance"))
    monkeypatch.setenv("GS1_SSCC_EXTENSION_DIGIT", "3")
    assert load_config(str(tmp_path / "instance"))["GS1_COMPANY_PREFIX"] == "6901234"
