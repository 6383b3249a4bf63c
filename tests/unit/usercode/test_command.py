"""The run's argv, param file and JSON file equal what wandb's own command-line agent makes, and
`wandb.init` in a real program reads the param file offline without a sweep id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from snakesweep.usercode.command import (
    DEFAULT_COMMAND,
    args_json_path,
    command_template,
    macro_args,
    prepare_run,
    run_argv,
    run_environ,
    write_args_json,
    write_param_file,
)

SHELL_TEXT = (
    "; rm -rf / && echo $(touch pwned) `id` $HOME 'single' \"double\" \\ back\nnew line\t* ?"
)


def _p(**values):
    return {name: {"value": value} for name, value in values.items()}


PARAM_SETS = [
    {},
    _p(learning_rate=0.01, batch_size=64),
    _p(flag=True, off=False, none=None, zero=0, negative=-3),
    _p(tiny=1e-5, big=1e20, third=1 / 3, inf=float("inf"), nan=float("nan"), whole=2.0),
    _p(text="two words", quotes='it\'s "quoted"', dollar="$HOME ${args} $(id)", shell=SHELL_TEXT),
    _p(empty="", unicode="héllo ✓", yaml_like="yes", number_text="1e-5", colon="a: b"),
    _p(items=[1, 2.5, "x", True, None], nested_list=[[1, 2], []], empty_list=[]),
    _p(group={"a": 1, "b": {"c": "deep", "d": [1, 2]}, "e": False}, empty_group={}),
    {
        "optimizer": {"value": "adam", "distribution": "categorical"},
        "lr": {"value": 0.1, "desc": None},
    },
    _p(**{"with space": 1, "dotted.name": 2, "dash-name": 3, "ünï": 4}),
]

ALL_MACROS = [
    "${args}",
    "${args_no_hyphens}",
    "${args_no_boolean_flags}",
    "${args_no_equals}",
    "${args_json}",
    "${args_json_file}",
    "${args_append_hydra}",
    "${args_override_hydra}",
    "${args_dict}",
    "${env}",
    "${interpreter}",
    "${program}",
]

COMMANDS = [
    None,
    [],
    list(DEFAULT_COMMAND),
    ALL_MACROS,
    [
        "${env}",
        "python3",
        "${program}",
        "--bs=${batch_size}",
        "${batch_size}",
        "${}",
        "${a}_${b}",
        "${args}",
    ],
    [
        "${envvar:SNAKESWEEP_T_SET}",
        "pre-${envvar:SNAKESWEEP_T_SET}-${envvar:SNAKESWEEP_T_UNSET}",
        "${program}",
    ],
    [
        "${envvar:SNAKESWEEP_T_MACRO}",
        "${envvar:snakesweep_lower}",
        "x${envvar:snakesweep_lower}",
        "${envvar:}",
    ],
    [
        "torchrun",
        "--nproc",
        2,
        1.5,
        True,
        "${program}",
        "${args_no_boolean_flags}",
        "${args_json_file}",
    ],
    ["${program}", "$HOME", "${HOME}", "${args", "args}", "$${args}}"],
]


@pytest.fixture(scope="module")
def wandb_agent_module():
    from wandb import wandb_agent

    return wandb_agent


def _wandb_run(wandb_agent_module, monkeypatch, tmp_path, command, params, program="train.py"):
    """What wandb's Agent._command_run passes to the process it starts, and the files it wrote."""
    started = {}

    class Recorder:
        def __init__(self, command=None, env=None, **kwargs):
            started.update(argv=command, env=env)

    monkeypatch.setattr(wandb_agent_module, "AgentProcess", Recorder)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SWEEP_ID", "sw1")
    for name in ("WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH"):  # the agent sets them: restore after
        monkeypatch.setenv(name, "before")
        monkeypatch.delenv(name)
    agent = wandb_agent_module.Agent(api=None, queue=None, sweep_id="sw1")
    agent._sweep_command = list(command) if command is not None else []
    agent._command_run({"type": "run", "run_id": "r1", "program": program, "args": params})
    return started


@pytest.mark.parametrize("command", COMMANDS, ids=range(len(COMMANDS)))
def test_argv_and_files_equal_wandb_agent(wandb_agent_module, monkeypatch, tmp_path, command):
    monkeypatch.setenv("SNAKESWEEP_T_SET", "a value; $(id)")
    monkeypatch.delenv("SNAKESWEEP_T_UNSET", raising=False)
    monkeypatch.setenv("SNAKESWEEP_T_MACRO", "${args_json}")
    monkeypatch.setenv("snakesweep_lower", "never used")
    environ = dict(os.environ)
    for i, params in enumerate(PARAM_SETS):
        wandb_dir = tmp_path / f"wandb{i}"
        started = _wandb_run(wandb_agent_module, monkeypatch, wandb_dir, command, params)
        param_file = wandb_dir / "wandb" / "sweep-sw1" / "config-r1.yaml"
        assert started["env"]["WANDB_SWEEP_PARAM_PATH"] == str(param_file)

        ours = tmp_path / f"ours{i}" / "config.yaml"
        argv = prepare_run(command, "train.py", params, ours, environ)
        # The one place the two differ by design: where the files are.
        json_file, our_json = param_file.with_suffix(".json"), ours.with_suffix(".json")
        assert argv == [str(our_json) if a == str(json_file) else a for a in started["argv"]], (
            params
        )
        assert ours.read_bytes() == param_file.read_bytes()
        assert our_json.exists() == json_file.exists()
        if json_file.exists():
            assert our_json.read_bytes() == json_file.read_bytes()


def test_macro_forms_equal_create_sweep_command_args():
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    for params in PARAM_SETS:
        theirs = create_sweep_command_args({"args": params})
        ours = macro_args(params)
        assert ours["args_dict"] == list(theirs.pop("args_dict"))
        assert {k: v for k, v in ours.items() if k != "args_dict"} == theirs


def test_envvar_expansion_equals_create_sweep_command(monkeypatch):
    from wandb.sdk.launch.sweeps.utils import create_sweep_command

    monkeypatch.setenv("SNAKESWEEP_T_SET", "v")
    monkeypatch.delenv("SNAKESWEEP_T_UNSET", raising=False)
    for command in COMMANDS:
        theirs = [str(c) for c in create_sweep_command(list(command) if command else None)]
        assert command_template(command, dict(os.environ)) == theirs


def test_param_file_equals_wandb_writer(tmp_path):
    from wandb.sdk.lib.config_util import dict_from_config_file, save_config_file_from_dict

    for i, params in enumerate(PARAM_SETS):
        save_config_file_from_dict(str(tmp_path / f"w{i}" / "p.yaml"), params)
        write_param_file(tmp_path / f"o{i}" / "p.yaml", params)
        assert (tmp_path / f"o{i}" / "p.yaml").read_bytes() == (
            tmp_path / f"w{i}" / "p.yaml"
        ).read_bytes()
        if params and "nan" not in params:
            loaded = dict_from_config_file(str(tmp_path / f"o{i}" / "p.yaml"))
            assert loaded == {k: v["value"] for k, v in params.items()}
    assert (tmp_path / "o0" / "p.yaml").read_text() == "wandb_version: 1"


def test_the_rules_the_note_states(tmp_path):
    params = _p(batch_size=64, lr=1e-5, amp=True, ema=False, group={"a": 1}, tag=None)

    def argv(command, environ=None):
        return run_argv(command, "train.py", params, tmp_path / "c.yaml", environ or {})

    assert argv(None) == argv([]) == argv(DEFAULT_COMMAND) == [
        "/usr/bin/env", "python", "train.py",
        "--batch_size=64", "--lr=1e-05", "--amp=True", "--ema=False",
        "--group={'a': 1}", "--tag=None",
    ]  # fmt: skip
    assert argv(["${args_no_boolean_flags}"]) == [
        "--batch_size=64",
        "--lr=1e-05",
        "--amp",
        "--group={'a': 1}",
        "--tag=None",
    ]
    assert argv(["${args_no_equals}"])[:4] == ["--batch_size", "64", "--lr", "1e-05"]
    assert argv(["${args_json}"]) == [
        '{"batch_size": 64, "lr": 1e-05, "amp": true, "ema": false, "group": {"a": 1}, "tag": null}'
    ]
    assert argv(["${args_json_file}"]) == [str(tmp_path / "c.json")]
    assert argv(["${args_override_hydra}"])[0] == "++batch_size=64"
    assert argv(["${args_append_hydra}"])[0] == "+batch_size=64"
    assert argv(["${args_no_hyphens}"])[0] == "batch_size=64"
    # Only a whole element is a macro; an unknown one vanishes; a partial one stays literal.
    assert argv(["x", "${batch_size}", "--bs=${batch_size}", "${args}x", "${a}_${b}", "${}"]) == [
        "x",
        "--bs=${batch_size}",
        "${args}x",
    ]
    # ${envvar:NAME} anywhere in an element; unset leaves NAME; only [A-Z0-9_] names.
    env = {"SEED": "7", "lower": "no"}
    assert argv(
        ["--seed=${envvar:SEED}", "${envvar:SEED}", "${envvar:UNSET}", "a${envvar:UNSET}b"], env
    ) == [
        "--seed=7",
        "7",
        "UNSET",
        "aUNSETb",
    ]
    assert argv(["${envvar:lower}", "--x=${envvar:lower}"], env) == ["--x=${envvar:lower}"]
    # An expanded value that is itself a whole macro is then expanded (wandb expands envvars first).
    assert argv(["${envvar:M}"], {"M": "${program}"}) == ["train.py"]
    assert argv(["${args_dict}"]) == ["batch_size", "lr", "amp", "ema", "group", "tag"]
    assert argv(["n", 3, 2.5, True, None]) == ["n", "3", "2.5", "True", "None"]


def test_bad_input(tmp_path):
    with pytest.raises(TypeError):
        run_argv("python train.py", "train.py", {}, tmp_path / "c.yaml", {})
    with pytest.raises(ValueError, match='No "value"'):
        run_argv(None, "train.py", {"lr": 0.1}, tmp_path / "c.yaml", {})
    with pytest.raises(ValueError, match="NUL"):
        run_argv(None, "train.py", _p(x="a\0b"), tmp_path / "c.yaml", {})
    with pytest.raises(ValueError, match=".json"):
        args_json_path(tmp_path / "c.json")


def test_shell_syntax_reaches_the_program_literally(tmp_path):
    params = _p(shell=SHELL_TEXT, sub="$(touch pwned2)", quote="'", list=["a b", "; ls"])
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"
    command = [sys.executable, "-c", code, "${args}", "${args_no_equals}", "${args_json}"]
    argv = run_argv(command, "unused.py", params, tmp_path / "c.yaml", {})
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    received = json.loads(out)
    assert received[0] == "--shell=" + SHELL_TEXT
    assert received[1] == "--sub=$(touch pwned2)"
    assert received[5] == SHELL_TEXT
    assert json.loads(received[-1])["shell"] == SHELL_TEXT
    assert not list(tmp_path.glob("pwned*"))


def test_json_file_only_when_the_command_uses_it(tmp_path):
    params = _p(lr=0.1)
    prepare_run(None, "train.py", params, tmp_path / "a" / "c.yaml", {})
    assert not (tmp_path / "a" / "c.json").exists()
    prepare_run(
        ["${envvar:J}"], "train.py", params, tmp_path / "b" / "c.yaml", {"J": "${args_json_file}"}
    )
    assert (tmp_path / "b" / "c.json").read_text() == '{"lr": 0.1}'
    write_args_json(tmp_path / "d.json", {})
    assert (tmp_path / "d.json").read_text() == "{}"


def test_run_environ(tmp_path):
    import wandb.env

    base = {"PATH": "/bin", "WANDB_SERVICE": "x", "WANDB_SWEEP_ID": "s", "WANDB_RUN_ID": "old"}
    env = run_environ(base, "r7", "rel/c.yaml")
    assert env == {
        "PATH": "/bin",
        wandb.env.RUN_ID: "r7",
        wandb.env.SWEEP_PARAM_PATH: os.path.abspath("rel/c.yaml"),
    }
    assert base["WANDB_RUN_ID"] == "old"
    assert (wandb.env.SERVICE, wandb.env.SWEEP_ID) == ("WANDB_SERVICE", "WANDB_SWEEP_ID")


def test_importing_the_module_does_not_import_wandb():
    code = "import sys, snakesweep.usercode.command; print('wandb' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


PROGRAM = """
import json, sys, wandb
run = wandb.init(mode="offline", config={"lr": 0.5, "own": "kept", "group": {"a": 1, "b": 2}})
run.config.update({"lr": 99.0, "added": 3})
config = {k: v for k, v in dict(run.config).items() if k != "_wandb"}
first = {"id": run.id, "sweep_id": run.sweep_id, "config": config}
run.finish()
run = wandb.init(mode="offline", id="ownid")
second = {"id": run.id, "lr": run.config["lr"]}
run.finish()
print("RESULT " + json.dumps({"argv": sys.argv[1:], "first": first, "second": second}))
"""


def test_wandb_init_reads_the_param_file_offline_without_a_sweep_id(tmp_path, measurement):
    program = tmp_path / "prog.py"
    program.write_text(PROGRAM)
    params = _p(lr=1e-5, group={"a": 10}, extra="x y")
    base = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    base.update(
        WANDB_DIR=str(tmp_path), WANDB_MODE="offline", WANDB_CACHE_DIR=str(tmp_path / "cache")
    )
    base.update(WANDB_CONFIG_DIR=str(tmp_path / "config"), WANDB_DATA_DIR=str(tmp_path / "data"))
    env = run_environ(base, "run123", tmp_path / "sweep" / "config-run123.yaml")
    argv = prepare_run(None, str(program), params, tmp_path / "sweep" / "config-run123.yaml", env)
    argv[1] = sys.executable  # `python` from /usr/bin/env may not be this venv's
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    measurement(
        f"a real offline wandb program run by run_argv: {time.perf_counter() - start:.2f} s"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["argv"] == ["--lr=1e-05", "--group={'a': 10}", "--extra=x y"]
    first = result["first"]
    assert "WANDB_SWEEP_ID" not in env and first["sweep_id"] is None
    assert first["id"] == "run123"  # WANDB_RUN_ID is the run id
    # The file overrides the program's defaults, merges nested groups, and locks its keys.
    assert first["config"] == {
        "lr": 1e-5,
        "own": "kept",
        "group": {"a": 10, "b": 2},
        "extra": "x y",
        "added": 3,
    }
    assert "locked by 'sweep'" in done.stderr
    # An explicit id= in the program wins over WANDB_RUN_ID outside a sweep.
    assert result["second"] == {"id": "ownid", "lr": 1e-5}
    assert (tmp_path / "wandb").is_dir()
