"""The flowem command: dispatch, exit codes and one-line errors."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from flowem.cli import COMMANDS, main


def test_every_command_module_has_main():
    for name, (module, _) in COMMANDS.items():
        assert callable(importlib.import_module(module).main), name


def test_unknown_command_exits_2(capsys):
    assert main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_bad_params_json_is_a_config_error(tmp_path, capsys):
    rc = main(
        [
            "check-structure",
            str(tmp_path / "x.pdb"),
            "--model-out",
            "m.pdb",
            "--summary-out",
            "s.csv",
            "--params",
            "{not json",
        ]
    )
    assert rc == 1
    assert "--params is not valid JSON" in capsys.readouterr().err


def test_offline_fetch_miss_exits_nonzero_with_message(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowem",
            "fetch",
            "pdb/1abc.pdb",
            "--params",
            json.dumps(
                {
                    "mirrors": [str(tmp_path)],
                    "cache_dir": str(tmp_path / "c"),
                    "allow_network": False,
                }
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "flowem: error: pdb/1abc.pdb" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("module", sorted({m for m, _ in COMMANDS.values()}))
def test_modules_run_as_scripts(module):
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "usage:" in proc.stdout
