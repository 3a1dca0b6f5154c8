"""scripts/verify_ledger.py: where the token may go, and proofs that leave no event out."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server

from scripts import verify_ledger
from tests.construction.test_ledger_chain import _checkpoint, _download, _history

EMPTY = {"/api/v1/ledger/keys": {"keys": []}, "/api/v1/ledger/checkpoints": {"items": []},
         "/api/v1/ledger/events": {"items": [], "next_after_sequence": None}}


class Recorder:
    """A local HTTP server that redirects or answers, and records what each request carried."""

    def __init__(self, host: str = "127.0.0.1", redirect_to: str | None = None,
                 moved: str | None = None):
        self.seen: list[tuple[str, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                recorder.seen.append((self.path, self.headers.get("Authorization")))
                path = self.path.split("?")[0]
                if recorder.redirect_to is not None:
                    self._answer(302, b"", {"Location": recorder.redirect_to + self.path})
                elif moved and path.startswith("/api/"):
                    # A move within the same origin: the token may follow.
                    self._answer(301, b"", {"Location": moved + self.path})
                else:
                    body = json.dumps(EMPTY[path.removeprefix(moved or "")]).encode()
                    self._answer(200, body, {"Content-Type": "application/json"})

            def _answer(self, status, body, headers):
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.redirect_to = redirect_to
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_a_redirect_to_another_origin_does_not_carry_the_token(tmp_path):
    with Recorder() as elsewhere, Recorder() as home:
        home.redirect_to = elsewhere.url  # the same host, another port: another origin
        assert verify_ledger.main(["download", home.url, "s3cret", str(tmp_path / "l")]) == 0
    assert home.seen and all(token == "Bearer s3cret" for _, token in home.seen)
    assert elsewhere.seen and all(token is None for _, token in elsewhere.seen)
    assert json.loads((tmp_path / "l" / "keys.json").read_text()) == {"keys": []}


def test_a_redirect_within_the_origin_keeps_the_token(tmp_path):
    with Recorder(moved="/v2") as home:
        assert verify_ledger.main(["download", home.url, "s3cret", str(tmp_path / "l")]) == 0
    followed = [token for path, token in home.seen if path.startswith("/v2/")]
    assert followed and all(token == "Bearer s3cret" for token in followed)


@pytest.mark.parametrize("base", ["http://trace.example.cn", "http://10.0.0.5:8000",
                                  "http://127.0.0.2:8000", "ftp://trace.example.cn"])
def test_the_token_is_not_sent_over_plain_http_to_other_hosts(tmp_path, capsys, base):
    assert verify_ledger.main(["download", base, "s3cret", str(tmp_path / "l")]) == 2
    assert "REFUSED" in capsys.readouterr().out
    assert not (tmp_path / "l").exists()
    assert verify_ledger.main(["component", base, "s3cret", "1", str(tmp_path / "l")]) == 2


def test_plain_http_to_another_host_needs_the_flag(tmp_path):
    with Recorder(host="127.0.0.2") as remote:
        assert verify_ledger.main(["download", remote.url, "s3cret", str(tmp_path / "l")]) == 2
        assert remote.seen == []
        assert verify_ledger.main(["download", remote.url, "s3cret", str(tmp_path / "l"),
                                   "--insecure-http"]) == 0
    assert remote.seen and all(token == "Bearer s3cret" for _, token in remote.seen)


@pytest.mark.parametrize("base", ["http://localhost:1", "http://127.0.0.1:1", "http://[::1]:1",
                                  "https://trace.example.cn"])
def test_https_and_loopback_are_allowed(base):
    verify_ledger.check_base_url(base)


# --- proofs that leave events out ----------------------------------------------------------


def _proof(world, component_id: int) -> dict:
    return world.client("regulator").get(f"/api/v1/components/{component_id}/proof").get_json()


def _events(world, component_id: int) -> dict:
    return world.client("regulator").get(f"/api/v1/components/{component_id}/events").get_json()


def _check(tmp_path, folder, proof: dict, events: dict | None = None, name: str = "p"):
    (tmp_path / f"{name}.json").write_text(json.dumps(proof))
    arguments = ["proof", str(folder), str(tmp_path / f"{name}.json")]
    if events is not None:
        (tmp_path / f"{name}-events.json").write_text(json.dumps(events))
        arguments += ["--events", str(tmp_path / f"{name}-events.json")]
    return verify_ledger.main(arguments)


def test_a_proof_that_leaves_out_a_sealed_event_fails(world, tmp_path, capsys):
    component = _history(world, 2)[0]
    _checkpoint(world)
    folder = tmp_path / "ledger"
    _download(world, folder)
    proof, events = _proof(world, component["id"]), _events(world, component["id"])
    assert _check(tmp_path, folder, proof, events) == 0
    short = {**proof, "events": proof["events"][:1] + proof["events"][2:]}
    missing = proof["events"][1]["event"]["id"]
    assert _check(tmp_path, folder, short) == 1
    assert f"event {missing} (sequence" in capsys.readouterr().out
    # Without the chain, the event list from the API tells the same.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "keys.json").write_text((folder / "keys.json").read_text())
    assert _check(tmp_path, bare, short) == 0  # nothing to compare with: nothing to say
    assert _check(tmp_path, bare, short, events) == 1
    assert "listed by the server but missing from the proof" in capsys.readouterr().out


def test_a_sealed_event_passed_off_as_pending_fails(world, tmp_path, capsys):
    component = _history(world, 1)[0]
    _checkpoint(world)
    folder = tmp_path / "ledger"
    _download(world, folder)
    proof = _proof(world, component["id"])
    proof["events"][0].update(checkpoint_id=None, leaf_index=None, audit_path=None)
    assert _check(tmp_path, folder, proof) == 1
    assert "gives it no path" in capsys.readouterr().out


def test_a_malformed_proof_file_fails_without_a_traceback(world, tmp_path, capsys):
    component = _history(world, 1)[0]
    _checkpoint(world)
    folder = tmp_path / "ledger"
    _download(world, folder)
    proof = _proof(world, component["id"])
    proof["events"][0]["sequence"] = None
    assert _check(tmp_path, folder, proof) == 1
    assert "BROKEN: a file does not hold" in capsys.readouterr().out


def test_a_path_for_another_leaf_fails(world, tmp_path, capsys):
    component = _history(world, 2)[1]
    _checkpoint(world)
    folder = tmp_path / "ledger"
    _download(world, folder)
    proof = _proof(world, component["id"])
    proof["events"][0]["leaf_index"] += 1
    assert _check(tmp_path, folder, proof) == 1
    assert "does not lead from sequence" in capsys.readouterr().out


def test_events_no_checkpoint_covers_yet_are_reported_apart(world, tmp_path, capsys):
    component = _history(world, 1)[0]
    _checkpoint(world)
    folder = tmp_path / "ledger"
    _download(world, folder)
    world.scan(component["code"], "store", expect=201)
    proof, events = _proof(world, component["id"]), _events(world, component["id"])
    assert proof["pending"] == 1
    assert _check(tmp_path, folder, proof, events) == 0
    out = capsys.readouterr().out
    newest = proof["events"][-1]["event"]["id"]
    assert f"OK: {len(proof['events']) - 1} of {len(proof['events'])}" in out
    assert f"not yet sealed: 1 events (ids {newest})" in out


def test_the_component_command_downloads_and_checks_the_list_and_the_proof(world, tmp_path,
                                                                          capsys):
    component = _history(world, 1)[0]
    _checkpoint(world)
    folder = tmp_path / "ledger"
    _download(world, folder)
    server = make_server("127.0.0.1", 0, world.app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert verify_ledger.main(["component", f"http://127.0.0.1:{server.server_port}",
                                   world.tokens["regulator"], str(component["id"]),
                                   str(folder)]) == 0
    finally:
        server.shutdown()
        thread.join()
    assert f"events of component {component['id']} proven" in capsys.readouterr().out
    assert (folder / f"component-{component['id']}-proof.json").exists()
    assert (folder / f"component-{component['id']}-events.json").exists()
