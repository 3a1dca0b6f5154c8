"""The API fuzz harness (bench/fuzz.py), and a short fuzz run of the API on SQLite.

The fuzz run takes minutes, so it is part of the suite only with PREFABTRACE_FUZZ=1
(examples per operation and phase: PREFABTRACE_FUZZ_EXAMPLES, default 5); the long
run is `bench/fuzz.py` itself, on both engines.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("bench_fuzz", ROOT / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


fuzz = _fuzz_module()


def test_reproductions_quote_any_body_for_the_shell():
    body = b'{"name": "it\'s"}\n\\ \xff\x00end'
    for data in (body, b'{"name": "plain"}'):
        written = subprocess.run(["sh", "-c", fuzz.shell_printer(data)], capture_output=True,
                                 check=True).stdout
        assert written == data


def test_the_served_app_resolves_no_host_names_while_fuzzing():
    with fuzz.offline_resolver():
        assert socket.getaddrinfo("127.0.0.1", 80)[0][4][0] == "127.0.0.1"
        assert socket.getaddrinfo("localhost", 80)
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("hooks.example.com", 443)
    assert socket.getaddrinfo is fuzz._real_getaddrinfo


# Defined only when asked for, rather than skipped: a skip fails the run in CI.
if os.environ.get("PREFABTRACE_FUZZ") == "1":

    @pytest.mark.parametrize("role", ["admin", "regulator"])
    def test_fuzzing_the_api_finds_no_server_error_nor_answer_outside_its_schema(role):
        examples = os.environ.get("PREFABTRACE_FUZZ_EXAMPLES", "5")
        args = fuzz.parse_args(["--engines", "sqlite", "--roles", role,
                                "--max-examples", examples, "--time-budget", "900"])
        [result] = fuzz.run(args)
        assert result.requests > 0
        assert not result.acceptance_failures() and not result.errors, \
            fuzz.findings_text(result)
