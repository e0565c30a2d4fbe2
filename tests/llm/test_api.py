"""The public API of ``prefgame.llm``: built from the submodules, documented, and it runs."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest
import torch

import prefgame.llm as api

ROOT = Path(__file__).resolve().parents[2]


def _doc_comment(module, name: str) -> str:
    """The ``#:`` comment above a module-level assignment of ``name`` (Sphinx's convention)."""
    lines = inspect.getsource(module).splitlines()
    for node in ast.parse("\n".join(lines)).body:
        targets = (
            [t.id for t in node.targets if isinstance(t, ast.Name)]
            if isinstance(node, ast.Assign)
            else [node.target.id]
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            else []
        )
        if name in targets:
            above = lines[node.lineno - 2].strip()
            return above[2:].strip() if above.startswith("#:") else ""
    return ""


def test_all_is_the_union_of_the_submodules_and_every_name_is_documented():
    names = [n for m in api.SUBMODULES for n in m.__all__]
    assert api.__all__ == names and len(set(names)) == len(names)  # no name exported twice
    undocumented = []
    for module in api.SUBMODULES:
        for name in module.__all__:
            obj = getattr(api, name)  # importable from prefgame.llm
            assert obj is getattr(importlib.import_module(module.__name__), name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
                # a dataclass without a docstring gets its signature as __doc__
                if not doc or doc.startswith(f"{name}("):
                    undocumented.append(f"{module.__name__}.{name}")
            elif not _doc_comment(module, name):
                undocumented.append(f"{module.__name__}.{name} (no #: comment)")
    assert not undocumented, undocumented


#: every module of the package: the tabular core, the explorer, the LLM backend, the experiments
ANNOTATED = sorted((ROOT / "prefgame").rglob("*.py"))


def _unannotated(path: Path) -> list[str]:
    """Public functions and methods of ``path`` with a parameter or return not annotated."""
    out = []

    def visit(body: list, prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef) and (
                not node.name.startswith("_") or node.name == "__init__"
            ):
                a = node.args
                params = [
                    p.arg
                    for p in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
                    if p is not None and p.annotation is None and p.arg not in ("self", "cls")
                ]
                if params or node.returns is None:
                    out.append(f"{path.name}:{prefix}{node.name} {params}")

    visit(ast.parse(path.read_text()).body, "")
    return out


def test_every_public_function_is_fully_annotated():
    assert len(ANNOTATED) > 15
    missing = [m for path in ANNOTATED for m in _unannotated(path)]
    assert not missing, missing


def test_the_annotation_check_notices_a_missing_annotation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "def f(x: int, y) -> int: ...\n"
        "def g(x: int): ...\n"
        "def _h(x): ...\n"
        "class C:\n"
        "    def __init__(self, a: int) -> None: ...\n"
        "    def m(self, *args, **kw: int) -> None: ...\n"
    )
    assert _unannotated(f) == ["m.py:f ['y']", "m.py:g []", "m.py:C.m ['args']"]


@pytest.mark.slow  # a training example run
def test_the_module_docstring_example_runs_through_the_public_api(tmp_path):
    """The "Minimal run" of ``prefgame.llm``'s docstring, with every name from ``__all__``."""
    assert "OnlineTrainer(cfg, policy, judge, prompts).train()" in api.__doc__
    texts = ["the cat sat on a mat", "a dog ran far away", "short text", "a long text"]
    prompts = ["the cat", "a dog", "short", "a long"]
    tok = api.build_word_tokenizer(texts)
    torch.manual_seed(0)
    policy = api.Policy(api.tiny_gpt2(tok), tok)
    judge = api.CallableJudge(lambda x, y, y2: float(len(y) < len(y2)), symmetrise=True)
    cfg = api.OnlineConfig(
        method="ipo_md",
        beta=0.125,
        max_steps=2,
        max_new_tokens=4,
        batch_size=2,
        output_dir=str(tmp_path),
        progress_bar=False,
        log_tensorboard=False,
    )
    history = api.OnlineTrainer(cfg, policy, judge, prompts).train()
    assert [h["step"] for h in history] == [1, 2]
    assert all(h["beta"] == 0.125 and h["tau"] == 1.0 for h in history)
    assert api.latest_checkpoint(tmp_path).name == "checkpoint-2"


@pytest.mark.parametrize("name", ["load_policy", "METHOD_NAMES", "load_checkpoint"])
def test_old_ambiguous_names_are_gone(name):
    assert not hasattr(api, name)
