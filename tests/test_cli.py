"""The flowem command: dispatch, exit codes and one-line errors."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from flowem.cli import COMMANDS, main
from flowem.command import apply_overrides, command_parser, parse, parse_override
from flowem.errors import ConfigError


def test_every_command_module_has_main_and_run():
    for name, (module, _) in COMMANDS.items():
        loaded = importlib.import_module(module)
        assert callable(loaded.main) and callable(loaded.run), name


def test_override_sets_dotted_keys_in_order():
    params = {"lr": 1.0, "sampler": {"method": "si", "alpha": 0.3}, "tune": {"lr": [1, 2]}}
    out = apply_overrides(
        params,
        [("sampler.method", "dc"), ("lr", 4), ("tune", {}), ("sampler.alpha", 0.5)],
    )
    assert out == {"lr": 4.0, "sampler": {"method": "dc", "alpha": 0.5}, "tune": {}}
    assert isinstance(out["lr"], float)  # an integer replacing a float stays a float
    assert params["sampler"]["method"] == "si"  # the input is not changed


def test_override_of_an_unknown_key_names_it():
    with pytest.raises(ConfigError, match=r"unknown parameter 'sampler\.bogus'"):
        apply_overrides({"sampler": {"lr": 1.0}}, [("sampler.bogus", 1)])
    with pytest.raises(ConfigError, match=r"'lr' is not a parameter section"):
        apply_overrides({"lr": 1.0}, [("lr.x", 1)])
    # a key of the stage's defaults may be set even where --params leaves it out
    out = apply_overrides({}, [("sampler.lr", 2.0)], {"sampler": {"lr": 1.0, "eta": 1.0}})
    assert out == {"sampler": {"lr": 2.0, "eta": 1.0}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("waters=false", ("waters", False)),
        ("step_size=30", ("step_size", 30)),
        ("sampler.alpha=0.5", ("sampler.alpha", 0.5)),
        ("stochasticity=flowdps", ("stochasticity", "flowdps")),
        ("pdb_id=2cg9", ("pdb_id", "2cg9")),
        ("task_lr={}", ("task_lr", {})),
        ("losses=[mmd]", ("losses", ["mmd"])),
    ],
)
def test_override_values_are_read_as_yaml(text, expected):
    assert parse_override(text) == expected


def test_tuned_choice_comes_before_overrides_and_tuned_cells_keep_it(tmp_path):
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps({"chosen": {"step_size": 30.0, "steps": 20}}))
    parser = command_parser("t", None, tuned=True)
    params = json.dumps({"step_size": 1.0, "steps": 10, "samples": 4})
    argv = ["--params", params, "--tuned", str(tuned), "--override", "step_size=tuned"]
    _, out = parse(parser, [*argv, "steps=5", "samples=1"])
    assert out == {"step_size": 30.0, "steps": 5, "samples": 1}


def test_command_refuses_an_unknown_override(toy_pdb, tmp_path, capsys):
    argv = ["check-structure", str(toy_pdb), "--outdir", str(tmp_path), "--override", "bogus=1"]
    assert main(argv) == 1
    assert "unknown parameter 'bogus'" in capsys.readouterr().err


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
            "--outdir",
            str(tmp_path / "out"),
            "--params",
            "{not json",
        ]
    )
    assert rc == 1
    assert "--params is not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("equals", [False, True])
def test_errors_reach_the_rule_log_as_well_as_stderr(tmp_path, capsys, equals):
    log = tmp_path / "logs" / "check.log"
    log_args = [f"--log={log}"] if equals else ["--log", str(log)]
    missing = ["check-structure", str(tmp_path / "x.pdb"), "--outdir", str(tmp_path / "o")]
    assert main([*missing, *log_args]) == 1
    assert main([*missing, "--params", "{not json", *log_args]) == 1  # fails before logging
    err, logged = capsys.readouterr().err, log.read_text().splitlines()
    assert len(logged) == 2 and all(line in err for line in logged)
    assert "x.pdb" in logged[0] and "--params is not valid JSON" in logged[1]


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
    # one parser builder: every command takes --override, and writes to --out or --outdir
    assert "--override KEY=VALUE" in proc.stdout and "--out-dir" not in proc.stdout
