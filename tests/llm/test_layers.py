"""The import graph of prefgame.llm: no cycle, and no module imports another's private names
(the layers of issue 22: policy ← sampling ← trainer, losses ← methods ← config)."""

import ast
from pathlib import Path

import prefgame.llm

LLM = Path(prefgame.llm.__file__).parent


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``prefgame.llm`` import of ``path``, at any depth, except under
    ``if TYPE_CHECKING:`` (annotations only)."""
    tree = ast.parse(path.read_text())
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prefgame.llm."):
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("prefgame.llm.")]
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(LLM.glob("*.py")):
        name = path.stem
        if name == "__init__":
            continue
        graph[name] = {m.split(".")[2] for m, _ in _imports(path)} - {name}
    return graph


def test_the_llm_import_graph_has_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    # the layers named in the issue
    assert "trainer" not in graph["methods"] and "trainer" not in graph["sampling"]
    assert "trainer" not in graph["config"] and "policy" not in graph["config"]


def test_no_module_imports_private_names_of_another():
    for path in sorted(LLM.glob("*.py")):
        for module, names in _imports(path):
            private = [n for n in names if n.startswith("_") and module != "prefgame.llm.config"]
            assert not private, f"{path.name} imports {private} from {module}"


def test_the_config_module_imports_no_torch():
    """``import prefgame.llm.config`` (and checking a config) loads neither torch nor
    transformers: the command line refuses a bad value before paying for them."""
    import subprocess
    import sys

    code = (
        "import sys; from prefgame.llm.config import OnlineConfig, config_help; "
        "OnlineConfig(method='online_dpo', tau=0.5); config_help(OnlineConfig); "
        "print(sorted(m for m in ('torch', 'transformers', 'accelerate') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
