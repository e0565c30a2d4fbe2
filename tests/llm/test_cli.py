"""``python -m prefgame.llm``: a real run from saved tiny models, and early, clear errors."""

import json
import subprocess
import sys

import pytest

from prefgame.llm import tiny_gpt2, tiny_sequence_classifier
from prefgame.llm.__main__ import main


@pytest.fixture(scope="module")
def saved(tok, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    for name, model in (("policy", tiny_gpt2(tok)), ("rm", tiny_sequence_classifier(tok))):
        model.save_pretrained(d / name)
        tok.save_pretrained(d / name)
    (d / "prompts.jsonl").write_text(
        "".join(json.dumps({"text": f"the cat {w}"}) + "\n" for w in ("sat", "ran", "good", "mat"))
    )
    return d


@pytest.mark.slow  # training through the command line
def test_cli_trains_from_saved_models(saved, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"method: ipo_md\nbeta: 0.125\npolicy_name: {saved / 'policy'}\n"
        f"judge_name: {saved / 'rm'}\nprompts: {saved / 'prompts.jsonl'}\n"
        "prompt_column: text\nmax_new_tokens: 4\nbatch_size: 2\n"
    )
    assert (
        main(
            [
                "--config",
                str(cfg),
                "--max_steps",
                "2",
                "--output_dir",
                str(tmp_path / "o"),
                "--progress_bar",
                "false",
                "--log_tensorboard",
                "false",
            ]
        )
        == 0
    )
    assert (tmp_path / "o" / "checkpoint-2" / "model.safetensors").is_file()
    assert len((tmp_path / "o" / "log.jsonl").read_text().splitlines()) == 2


def test_cli_errors_before_loading_models(saved, tmp_path):
    base = ["--policy_name", "/nonexistent/policy", "--judge_name", "/nonexistent/rm"]
    with pytest.raises(ValueError, match="unknown method"):
        main(base + ["--prompts", "x.jsonl", "--method", "ppo"])
    # the prompt file lacks the column: caught before the (nonexistent) models are touched
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['prompt'\]"):
        main(base + ["--prompts", str(saved / "prompts.jsonl")])
    with pytest.raises(ValueError, match="judge_kind"):
        main(base + ["--prompts", "x.jsonl", "--judge_kind", "oracle"])
    with pytest.raises(ValueError, match="judge_max_length = 0"):  # a config field (issue 10)
        main(base + ["--prompts", "x.jsonl", "--judge_max_length", "0"])


@pytest.mark.slow  # the command line in a subprocess
def test_cli_reports_a_bad_input_in_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "prefgame.llm", "--method", "ppo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown method 'ppo'")


def _llm(*argv, env=None, cwd=None):
    import os

    full = {k: v for k, v in os.environ.items() if k != "PREFGAME_DEBUG"}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "prefgame.llm", *argv],
        capture_output=True,
        text=True,
        check=False,
        env=full,
        cwd=cwd,
    )


@pytest.mark.slow  # the command line in subprocesses
def test_config_errors_through_the_command_line_are_one_line(saved, tmp_path):
    """The error contract for ``python -m prefgame.llm`` (one process per group of checks: each
    start imports torch).  Every case: exit 2, one stderr line, no traceback."""
    (tmp_path / "bad.yaml").write_text("method: [unclosed\n")
    (tmp_path / "bool.json").write_text(json.dumps({"batch_size": True}))
    (tmp_path / "frac.json").write_text(json.dumps({"max_steps": 2.5}))
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "a_file").write_text("x")
    models = [
        "--policy_name",
        str(saved / "policy"),
        "--judge_name",
        str(saved / "rm"),
        "--prompt_column",
        "text",
    ]
    cases = [
        (["--config", str(tmp_path / "bad.yaml")], "malformed YAML"),
        (["--config", str(tmp_path / "bool.json")], "batch_size = True"),
        (["--config", str(tmp_path / "frac.json")], "max_steps = 2.5"),
        (
            [
                *models,
                "--prompts",
                str(saved / "prompts.jsonl"),
                "--prompt_template",
                "{prompt} {foo}",
            ],
            "unknown field(s) ['foo']",
        ),
        (
            [
                *models,
                "--prompts",
                str(saved / "prompts.jsonl"),
                "--output_dir",
                str(tmp_path / "a_file"),
            ],
            "is a file",
        ),
        (
            [
                *models,
                "--prompts",
                str(tmp_path / "empty.jsonl"),
                "--output_dir",
                str(tmp_path / "o1"),
            ],
            "empty",
        ),
        (
            [
                *models,
                "--prompts",
                str(tmp_path / "bad.yaml"),
                "--output_dir",
                str(tmp_path / "o4"),
            ],
            "bad.yaml",
        ),
        (
            [
                "--policy_name",
                "no-such-model-xyz",
                "--judge_name",
                str(saved / "rm"),
                "--prompt_column",
                "text",
                "--prompts",
                str(saved / "prompts.jsonl"),
                "--output_dir",
                str(tmp_path / "o2"),
            ],
            "HF_HUB_OFFLINE",
        ),
        (
            [
                *models[:2],
                "--judge_name",
                str(saved / "policy"),
                "--prompt_column",
                "text",
                "--prompts",
                str(saved / "prompts.jsonl"),
                "--output_dir",
                str(tmp_path / "o3"),
            ],
            "not a sequence classifier",
        ),
    ]
    # one interpreter runs every case through the real entry point (cli() of __main__)
    script = (
        "import sys, json; from prefgame.llm.__main__ import cli\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    sys.argv = ['prefgame.llm', *argv]\n"
        "    print('CODE', cli(), file=sys.stderr, flush=True)\n"
    )
    import os

    env = {k: v for k, v in os.environ.items() if k != "PREFGAME_DEBUG"}
    env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps([c for c, _ in cases])],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(("error:", "CODE"))]
    for (_, needle), (msg, code) in zip(cases, zip(lines[::2], lines[1::2]), strict=True):
        assert code == "CODE 2" and msg.startswith("error:") and needle in msg, (needle, msg)


def test_a_rerun_into_a_used_output_dir_is_refused_and_the_config_is_saved(saved, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"policy_name: {saved / 'policy'}\njudge_name: {saved / 'rm'}\n"
        f"prompts: {saved / 'prompts.jsonl'}\nprompt_column: text\nmax_new_tokens: 4\n"
        f"batch_size: 2\nmax_steps: 1\noutput_dir: {tmp_path / 'o'}\nprogress_bar: false\n"
        "log_tensorboard: false\n"
    )
    assert main(["--config", str(cfg)]) == 0
    saved_cfg = json.loads((tmp_path / "o" / "config.json").read_text())
    assert saved_cfg["max_steps"] == 1 and saved_cfg["policy_name"] == str(saved / "policy")
    with pytest.raises(ValueError, match="is not empty; give resume_from"):
        main(["--config", str(cfg)])
    assert main(["--config", str(cfg), "--overwrite", "true"]) == 0


def test_help_shows_default_factory_values(capsys):
    """``--help`` shows each field's real default, a default factory's value
    included (the hand-written parser showed those as "(required)")."""
    import re

    from prefgame.llm.__main__ import RunConfig
    from prefgame.llm.config import config_help

    text = " ".join(config_help(RunConfig).split())
    assert "(required)" not in text and "required" not in text
    entry = re.search(r"--lora_target_modules .*?\(default: (.*?)\)", text)
    assert entry is not None and entry.group(1) == "[]"
    assert "--max_steps MAX_STEPS, --max-steps MAX_STEPS optimiser steps (paper: 30k) " in text
    assert "(default: 100)" in text and "(default: online_ipo)" in text


def test_hub_names_fail_fast_without_network(monkeypatch):
    """An uncached hub name fails at once, naming the field, when HF_HUB_OFFLINE is set, and
    when huggingface.co cannot be reached -- never a long wait inside a download."""
    import socket
    import time

    from prefgame.llm.__main__ import check_source

    name = "no-such-org-prefgame/never-cached-model"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"policy_name = .*HF_HUB_OFFLINE is set"):
        check_source(name, "policy_name")
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    t0 = time.time()
    with pytest.raises(ValueError, match=r"judge_name = .*cannot be reached"):
        check_source(name, "judge_name")
    assert time.time() - t0 < 5
    with pytest.raises(ValueError, match="no such file or folder"):
        check_source("/nonexistent/model", "policy_name")


# --- reliability round 3 (issue 25): no run's data lost, no silent mix, errors before loading ---


def _run_yaml(saved, tmp_path, **extra):
    cfg = tmp_path / "run.yaml"
    fields = {
        "policy_name": saved / "policy",
        "judge_name": saved / "rm",
        "prompts": saved / "prompts.jsonl",
        "prompt_column": "text",
        "max_new_tokens": 4,
        "batch_size": 2,
        "output_dir": tmp_path / "o",
        "progress_bar": "false",
        "log_tensorboard": "false",
        "win_rate_every": 0,
        **extra,
    }
    cfg.write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
    return cfg


@pytest.mark.slow  # training through the command line
def test_overwrite_keeps_the_earlier_run_and_rotation_keeps_the_new_ones(saved, tmp_path):
    """An earlier run with later checkpoints (3, 4) and a new, shorter run (1, 2) with
    ``overwrite: true``: rotation used to keep the old 3, 4 and delete the new run's."""
    old = _run_yaml(saved, tmp_path, max_steps=4, save_every=1, keep_checkpoints=2)
    assert main(["--config", str(old)]) == 0
    old_weights = (tmp_path / "o" / "checkpoint-4" / "model.safetensors").read_bytes()
    new = _run_yaml(saved, tmp_path, max_steps=2, save_every=1, keep_checkpoints=2, lr=0.01)
    assert main(["--config", str(new), "--overwrite", "true"]) == 0
    top = sorted(p.name for p in (tmp_path / "o").glob("checkpoint-*"))
    assert top == ["checkpoint-1", "checkpoint-2"]
    assert json.loads((tmp_path / "o" / "config.json").read_text())["lr"] == 0.01
    (moved,) = (tmp_path / "o").glob("replaced-*")
    assert (moved / "checkpoint-4" / "model.safetensors").read_bytes() == old_weights
    assert json.loads((moved / "config.json").read_text())["max_steps"] == 4


@pytest.mark.slow  # training through the command line
def test_resume_with_a_different_run_is_refused_before_loading(saved, tmp_path, monkeypatch):
    cfg = _run_yaml(saved, tmp_path, max_steps=1)
    assert main(["--config", str(cfg)]) == 0
    import prefgame.llm.policy as pol

    def no_load(*a, **k):
        raise AssertionError("models were loaded before the check")

    monkeypatch.setattr(pol, "load_pretrained_policy", no_load)
    with pytest.raises(ValueError, match=r"different run \(lr = 0.0001 there, 0.5 now"):
        main(["--config", str(cfg), "--resume_from", "latest", "--lr", "0.5"])
    with pytest.raises(ValueError, match=r"method = 'online_ipo' there, 'online_dpo' now"):
        main(["--config", str(cfg), "--resume_from", "latest", "--method", "online_dpo"])
    with pytest.raises(ValueError, match="no checkpoint to resume from"):
        main(["--config", str(cfg), "--resume_from", str(tmp_path / "nothing")])


@pytest.mark.slow  # training through the command line
def test_resume_may_change_max_steps(saved, tmp_path):
    cfg = _run_yaml(saved, tmp_path, max_steps=1)
    assert main(["--config", str(cfg)]) == 0
    assert main(["--config", str(cfg), "--resume_from", "latest", "--max_steps", "2"]) == 0
    assert (tmp_path / "o" / "checkpoint-2").is_dir()


def test_a_reward_model_as_reference_is_refused(saved, tmp_path):
    cfg = _run_yaml(saved, tmp_path, max_steps=1, ref_name=saved / "rm")
    with pytest.raises(ValueError, match="ref_name = .* is a GPT2ForSequenceClassification"):
        main(["--config", str(cfg)])
    cfg = _run_yaml(saved, tmp_path, max_steps=1, policy_name=saved / "rm")
    with pytest.raises(ValueError, match="policy_name = .* not a language model"):
        main(["--config", str(cfg)])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--adam_beta1", "1.5"], "adam_beta1 = 1.5, must lie in"),
        (["--lora_dropout", "1.0"], "lora_dropout = 1.0, must lie in"),
        (["--seed", str(2**40)], "seed = 1099511627776, must lie in"),
    ],
)
def test_config_ranges_are_checked_before_loading(saved, tmp_path, args, match):
    cfg = _run_yaml(saved, tmp_path, max_steps=1)
    with pytest.raises(ValueError, match=match):
        main(["--config", str(cfg), *args])


def test_non_string_lora_modules_and_deep_json_are_named(tmp_path):
    from prefgame.llm.config import OnlineConfig, load_config

    with pytest.raises(ValueError, match=r"lora_target_modules\[1\] = 3"):
        OnlineConfig(lora_target_modules=["c_attn", 3])
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        load_config(OnlineConfig, deep)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a CPU-only machine")
def test_float16_on_a_cpu_is_refused_before_loading(saved, tmp_path):
    cfg = _run_yaml(saved, tmp_path, max_steps=1, dtype="float16")
    with pytest.raises(ValueError, match="float16' needs a GPU"):
        main(["--config", str(cfg)])


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    import prefgame.llm.__main__ as entry

    def interrupted(argv=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(entry, "main", interrupted)
    monkeypatch.setattr(sys, "argv", ["prefgame.llm"])
    assert entry.cli() == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "resume_from latest" in err[0]


@pytest.mark.slow  # training through the command line
def test_debug_flag_shows_the_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "prefgame.llm", "--debug", "--method", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "unknown method" in proc.stderr


def test_a_judge_too_short_for_the_completions_is_refused_before_loading(saved, tmp_path):
    cfg = _run_yaml(saved, tmp_path, max_steps=1, judge_kind="pairwise", judge_max_length=8)
    with pytest.raises(ValueError, match="judge_max_length = 8 cannot hold two completions"):
        main(["--config", str(cfg)])


@pytest.mark.slow  # training through the command line
def test_plugin_method_trains_through_python_m_prefgame_llm(saved, tmp_path):
    from prefgame.llm.methods import METHODS

    plugin = tmp_path / "my_methods.py"
    plugin.write_text(
        "from prefgame.llm import PairSampler, register_method\n"
        "register_method('cli_plugin_ipo', sampler=PairSampler(),\n"
        "                loss=lambda h, p, *, tau: (tau * h - (p - 0.5)) ** 2, replace=True)\n"
    )
    cfg = _run_yaml(saved, tmp_path, max_steps=2)
    try:
        assert (
            main(["--plugin", str(plugin), "--config", str(cfg), "--method", "cli_plugin_ipo"]) == 0
        )
    finally:
        METHODS.pop("cli_plugin_ipo", None)
    assert json.loads((tmp_path / "o" / "config.json").read_text())["method"] == "cli_plugin_ipo"
    assert (tmp_path / "o" / "checkpoint-2").is_dir()
