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
    (d / "prompts.jsonl").write_text("".join(json.dumps({"text": f"the cat {w}"}) + "\n"
                                             for w in ("sat", "ran", "good", "mat")))
    return d


def test_cli_trains_from_saved_models(saved, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"method: ipo_md\nbeta: 0.125\npolicy_name: {saved / 'policy'}\n"
                   f"judge_name: {saved / 'rm'}\nprompts: {saved / 'prompts.jsonl'}\n"
                   "prompt_column: text\nmax_new_tokens: 4\nbatch_size: 2\n")
    assert main(["--config", str(cfg), "--max_steps", "2", "--output_dir", str(tmp_path / "o"),
                 "--progress_bar", "false", "--log_tensorboard", "false"]) == 0
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


def test_cli_reports_a_bad_input_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "prefgame.llm", "--method", "ppo"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown method 'ppo'")
