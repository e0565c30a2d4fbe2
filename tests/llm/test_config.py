"""Configs load from files and the command line; every bad input errors clearly, early."""

import json

import pytest

from prefgame.llm import (
    CallableJudge,
    OnlineConfig,
    OnlineTrainer,
    Policy,
    load_prompts,
    schedule_value,
    tiny_gpt2,
)
from prefgame.llm.data import load_preference_pairs


def test_file_then_command_line_overrides(tmp_path):
    f = tmp_path / "run.json"
    f.write_text(json.dumps({"method": "ipo_md", "beta": 0.125, "tau": 1.0, "batch_size": 8}))
    cfg = OnlineConfig.from_args(
        [
            "--config",
            str(f),
            "--tau",
            "0.5",
            "--micro-batch-size=4",
            "--bf16",
            "false",
            "--lora_target_modules",
            "c_attn,c_proj",
        ]
    )
    assert (cfg.method, cfg.beta, cfg.tau, cfg.micro, cfg.bf16) == ("ipo_md", 0.125, 0.5, 4, False)
    assert cfg.lora_target_modules == ["c_attn", "c_proj"]
    y = tmp_path / "run.yaml"
    y.write_text("method: nash_md_pg\nbeta: 0.125\ntau: 0.008\nlr: 3.0e-5\n")
    assert OnlineConfig.from_args(["--config", str(y)]).lr == 3e-5


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"method": "ppo"}, "unknown method 'ppo'"),
        ({"tau": 0.0}, "tau"),
        ({"tau": float("nan")}, "tau"),
        ({"beta": 1.5, "method": "ipo_md"}, "beta"),
        ({"beta": 0.1, "method": "online_dpo"}, "no effect"),
        ({"batch_size": 6, "micro_batch_size": 4}, "multiple"),
        ({"batch_size": 8, "generation_batch_size": 3}, "multiple"),
        ({"top_p": 0.0}, "top_p"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"logp_reduction": "max"}, "logp_reduction"),
        ({"tau_schedule": "exp:3"}, "schedule"),
        ({"beta_schedule": "linear:x", "method": "ipo_md"}, "linear:<end value>"),
    ],
)
def test_bad_config_values(kw, msg):
    with pytest.raises(ValueError, match=msg):
        OnlineConfig(**kw)


def test_bad_command_line_and_files(tmp_path):
    with pytest.raises(ValueError, match="unknown config field"):
        OnlineConfig.from_args(["--learning_rate", "1"])
    with pytest.raises(ValueError, match="not a valid int"):
        OnlineConfig.from_args(["--batch_size", "eight"])
    with pytest.raises(ValueError, match="missing value"):
        OnlineConfig.from_args(["--tau"])
    with pytest.raises(ValueError, match="does not exist"):
        OnlineConfig.from_args(["--config", str(tmp_path / "none.json")])
    bad = tmp_path / "x.ini"
    bad.write_text("a=1")
    with pytest.raises(ValueError, match="use .json"):
        OnlineConfig.from_args(["--config", str(bad)])


def test_schedules():
    assert schedule_value("constant", 0.5, 7, 10) == 0.5
    assert schedule_value("linear:0.1", 0.5, 5, 10) == pytest.approx(0.3)
    assert schedule_value("cosine:0.0", 1.0, 10, 10) == pytest.approx(0.0)
    assert schedule_value("inverse", 1.0, 2, 10) == pytest.approx(0.5)


def test_trainer_errors_before_any_work(tok, prompts, good_judge, tmp_path):
    policy = Policy(tiny_gpt2(tok), tok)
    cfg = OnlineConfig(method="rl", output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="needs a reward model"):
        OnlineTrainer(cfg, policy, good_judge, prompts)
    cfg = OnlineConfig(method="ipo_md", beta=0.5, output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="with itself"):
        OnlineTrainer(cfg, policy, good_judge, prompts, ref=policy)
    with pytest.raises(ValueError, match="non-empty list of strings"):
        OnlineTrainer(cfg, policy, good_judge, [])
    with pytest.raises(ValueError, match="OnlineConfig"):
        OnlineTrainer({"method": "ipo_md"}, policy, good_judge, prompts)
    with pytest.raises(ValueError, match="no checkpoint"):
        OnlineTrainer(
            OnlineConfig(output_dir=str(tmp_path), resume_from="latest"),
            policy,
            CallableJudge(lambda x, y, y2: 0.5),
            prompts,
        )


def test_data_loaders_and_missing_columns(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"text": "a post"}\n{"text": "another"}\n')
    assert load_prompts(str(f), column="text", template="{prompt}\nTL;DR:") == [
        "a post\nTL;DR:",
        "another\nTL;DR:",
    ]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['prompt'\]"):
        load_prompts(str(f))
    pairs = {"prompt": ["x"], "chosen": ["good"], "rejected": [[{"role": "a", "content": "b"}]]}
    assert load_preference_pairs(pairs)["rejected"] == ["b"]
    with pytest.raises(ValueError, match="chosen"):
        load_preference_pairs({"prompt": ["x"], "better": ["y"], "rejected": ["z"]})
    with pytest.raises(ValueError, match="does not exist"):
        load_prompts(str(tmp_path / "missing.csv"))


def test_help_lists_every_field_and_exits_zero(capsys):
    import dataclasses

    from prefgame.llm import OnlineConfig

    with pytest.raises(SystemExit) as exc:
        OnlineConfig.from_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(f"--{f.name}" in out for f in dataclasses.fields(OnlineConfig))


def test_the_python_api_refuses_an_output_dir_holding_another_run(tok, prompts, tmp_path):
    """The command line refused a used output_dir; the Python API appended a second run to it."""
    from prefgame.llm import CallableJudge, OnlineConfig, OnlineTrainer, Policy, tiny_gpt2

    judge = CallableJudge(lambda x, y, y2: 0.5)
    kw = {"max_steps": 1, "batch_size": 2, "max_new_tokens": 3, "progress_bar": False}
    kw |= {"log_tensorboard": False, "win_rate_every": 0, "output_dir": str(tmp_path / "o")}
    OnlineTrainer(OnlineConfig(**kw), Policy(tiny_gpt2(tok), tok), judge, prompts).train()
    first_log = (tmp_path / "o" / "log.jsonl").read_text()
    with pytest.raises(ValueError, match="holds another run"):
        OnlineTrainer(OnlineConfig(**kw), Policy(tiny_gpt2(tok), tok), judge, prompts)
    tr = OnlineTrainer(
        OnlineConfig(**kw, overwrite=True), Policy(tiny_gpt2(tok), tok), judge, prompts
    )
    (moved,) = (tmp_path / "o").glob("replaced-*")
    assert (moved / "log.jsonl").read_text() == first_log
    assert (moved / "checkpoint-1").is_dir() and not (tmp_path / "o" / "log.jsonl").exists()
    tr.train()
    assert (tmp_path / "o" / "checkpoint-1").is_dir()
