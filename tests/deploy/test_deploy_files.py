"""deploy/: the nginx site is valid nginx, the systemd units run real commands, and the
environment template names every setting; scripts/cluster.py renders them for loopback."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from scripts.cluster import (
    Layout,
    nginx_binary,
    nginx_test,
    read_env_file,
    read_unit,
    render_all,
    render_nginx_main,
    render_unit,
    unit_value,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("prefabtrace-web@.service", "prefabtrace-worker@.service",
         "prefabtrace-sealer.service", "prefabtrace-deliverer.service",
         "prefabtrace-migrate.service")


@pytest.fixture
def layout(tmp_path) -> Layout:
    return Layout(tmp_path / "cluster", 18080, [18001, 18002], 15432, 16379, 19000)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trace.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_production_site_is_valid_nginx(tmp_path, layout):
    """The site as shipped (TLS included), with only its certificate and log paths moved."""
    site = (DEPLOY / "nginx" / "prefabtrace.conf").read_text()
    cert, key = _self_signed(tmp_path)
    site = site.replace("/etc/ssl/certs/trace.example.com.fullchain.pem", str(cert))
    site = site.replace("/etc/ssl/private/trace.example.com.key.pem", str(key))
    site = site.replace("/var/log/nginx", str(tmp_path))
    (tmp_path / "site.conf").write_text(site)
    (layout.folder / "nginx" / "temp").mkdir(parents=True)
    main = layout.folder / "nginx" / "nginx.conf"
    main.write_text(render_nginx_main(layout, tmp_path / "site.conf"))
    result = nginx_test(main)
    assert result.returncode == 0, result.stderr


def test_the_rendered_cluster_site_is_valid_nginx(layout):
    files = render_all(layout, "secret")
    result = nginx_test(files["nginx"])
    assert result.returncode == 0, result.stderr
    site = files["site"].read_text()
    assert "ssl" not in site.replace("ssl_", "").split("listen")[1]  # plain HTTP on loopback
    assert "listen 127.0.0.1:18080;" in site
    assert "server 127.0.0.1:18001 max_fails" in site and "server 127.0.0.1:18002 max_fails" in site
    assert "return 301" not in site
    assert f"alias {ROOT}/construction/static/;" in site


def test_a_broken_site_fails_the_nginx_check(layout):
    """The check above can fail: nginx -t refuses what is not nginx."""
    files = render_all(layout, "secret")
    files["site"].write_text(files["site"].read_text().replace("proxy_pass", "proxy_passs", 1))
    assert nginx_test(files["nginx"]).returncode != 0


def _directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, flags=re.MULTILINE)


def test_the_site_matches_the_apps_limits_and_proxy_settings():
    site = (DEPLOY / "nginx" / "prefabtrace.conf").read_text()
    config = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}).config
    sizes = _directive(site, "client_max_body_size")
    assert sizes[0] == f"{config['MAX_CONTENT_LENGTH'] // 2**20}m"  # server-wide: uploads
    assert sizes[1] == f"{config['MODEL_MAX_BYTES'] // 2**20}m"  # the model route only
    headers = {value.split()[0]: value.split()[1] for value in _directive(site, "proxy_set_header")}
    # What ProxyFix(x_for, x_proto, x_host) reads with PROXY_HOPS=1.
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == headers["Host"]
    assert read_env_file(DEPLOY / "prefabtrace.env.example")["PROXY_HOPS"] == "1"
    # nginx gives up on a node later than gunicorn does on a request.
    assert int(_directive(site, "proxy_read_timeout")[0].rstrip("s")) > 120


def test_the_environment_template_names_every_setting():
    names = set()
    for path in (ROOT / "construction" / "config.py", DEPLOY / "gunicorn.conf.py",
                 ROOT / "labels" / "render.py"):
        names |= set(re.findall(r"(?:env|environ)\.get\(\s*\"([A-Z0-9_]+)\"", path.read_text()))
    assert len(names) > 80
    template = read_env_file(DEPLOY / "prefabtrace.env.example")
    missing = names - set(template) - {"GUNICORN_BIND"}  # the unit binds, per instance
    assert not missing
    assert template["PREFABTRACE_ENV"] == "production"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(template)


def test_the_rendered_environment_is_loopback_and_starts_in_production(layout):
    render_all(layout, "a-secret-of-the-cluster")
    settings = read_env_file(layout.env_file)
    urls = [value for value in settings.values() if "://" in value]
    assert len(urls) >= 4
    assert all("127.0.0.1" in url for url in urls), urls
    assert settings["DATABASE_URL"].endswith("@127.0.0.1:15432/prefabtrace")
    assert settings["S3_ENDPOINT_URL"] == "http://127.0.0.1:19000"
    assert settings["PREFABTRACE_ENV"] == "production"
    assert all(str(layout.folder) in settings[key] for key in (
        "LABEL_SIGNING_KEY_FILE", "LEDGER_SIGNING_KEY_FILE", "PROMETHEUS_MULTIPROC_DIR"))


@pytest.mark.parametrize("unit_name", UNITS)
def test_each_unit_has_what_it_needs_and_runs_a_real_command(unit_name, layout):
    unit = read_unit(DEPLOY / "systemd" / unit_name)
    assert unit_value(unit, "Service", "EnvironmentFile") == ["/etc/prefabtrace/prefabtrace.env"]
    assert unit_value(unit, "Service", "WorkingDirectory") == ["/opt/prefabtrace"]
    assert unit_value(unit, "Service", "User") == ["prefabtrace"]
    if unit_name != "prefabtrace-migrate.service":
        assert unit_value(unit, "Service", "Restart") == ["always"]
        assert unit_value(unit, "Install", "WantedBy") == ["prefabtrace.target"]
        assert unit_value(unit, "Unit", "Requires") == ["prefabtrace-migrate.service"]
    render_all(layout, "secret")
    command = render_unit(unit_name, "8001", layout, {})
    assert Path(command.argv[0]).parent == Path(sys.executable).parent
    assert command.cwd == str(ROOT)
    if command.argv[1:3] == ["--app", "app"]:
        # The command exists with these options: its --help answers.
        app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
        result = app.test_cli_runner().invoke(args=[*command.argv[3:], "--help"])
        assert result.exit_code == 0, result.output
    else:
        assert command.argv[1:] == ["-c", "deploy/gunicorn.conf.py", "--preload",
                                    "--bind", "127.0.0.1:8001"]


def test_the_units_verify(tmp_path, layout):
    """systemd's own check, on the units with this checkout's paths (a parser check without
    systemd-analyze: every line a section, a comment or KEY=value)."""
    folder = tmp_path / "units"
    folder.mkdir()
    for path in (DEPLOY / "systemd").iterdir():
        (folder / path.name).write_text(layout.local_path(path.read_text()))
        read_unit(folder / path.name)  # raises on a line that is none of those
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the units were parsed, not verified")
    names = ["prefabtrace-web@8001.service", "prefabtrace-worker@1.service",
             "prefabtrace-sealer.service", "prefabtrace-deliverer.service",
             "prefabtrace-migrate.service", "prefabtrace.target"]
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=folder,
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines()
                if "prefabtrace" in line and "unit not found" not in line.lower()]
    assert result.returncode == 0 and not problems, result.stderr


def test_nginx_is_installed():
    """`make setup` installs it; the checks above need it."""
    assert Path(nginx_binary()).exists()


def test_the_cluster_will_not_start_on_a_taken_port(tmp_path):
    """`make cluster` refuses a CLUSTER_PORT something else listens on, before doing anything."""
    import socket

    from scripts.cluster import ClusterError, up

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ClusterError, match="is taken"):
            up(tmp_path / "cluster", taken.getsockname()[1], tmp_path / "tokens.json")
    assert not (tmp_path / "cluster").exists()
