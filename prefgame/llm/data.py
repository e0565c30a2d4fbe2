"""Prompt and preference data through Hugging Face ``datasets``.

* :func:`load_prompts` -- a list of prompt strings from a list, a ``datasets.Dataset``, a local
  file (``.json``, ``.jsonl``, ``.csv``, ``.parquet``, ``.txt``: one prompt a line) or a hub name;
* :func:`load_preference_pairs` -- ``(prompts, chosen, rejected)`` lists for PM / RM training;
* :func:`load_tldr_prompts`, :func:`load_tldr_preferences` -- the TL;DR summarisation prompts and
  the 92k human preference pairs of Stiennon et al. (2020), as preprocessed by TRL
  (``trl-lib/tldr``, ``trl-lib/tldr-preference``).  These need the network; tests never call
  them.

A missing column raises ``ValueError`` naming the column and the ones present.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

__all__ = [
    "as_dataset",
    "load_preference_pairs",
    "load_prompts",
    "load_tldr_preferences",
    "load_tldr_prompts",
]

_FILE_BUILDERS = {
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}


def as_dataset(source: Any, *, split: str = "train") -> datasets.Dataset:
    """A ``datasets.Dataset`` from a Dataset, a list of dicts, a dict of lists, a file or a hub
    name (the last one downloads)."""
    import datasets

    if isinstance(source, datasets.Dataset):
        return source
    if isinstance(source, datasets.DatasetDict):
        if split not in source:
            raise ValueError(f"split {split!r} not in dataset (splits: {list(source)})")
        return source[split]
    if isinstance(source, dict):
        return datasets.Dataset.from_dict(source)
    if isinstance(source, (list, tuple)):
        if source and all(isinstance(x, str) for x in source):
            return datasets.Dataset.from_dict({"prompt": list(source)})
        if not all(isinstance(x, dict) for x in source):
            raise ValueError("a list data source must hold strings (prompts) or dicts (rows)")
        return datasets.Dataset.from_list(list(source))
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix in _FILE_BUILDERS:
            if not path.is_file():
                raise ValueError(f"data file {str(path)!r} does not exist")
            ds = datasets.load_dataset(
                _FILE_BUILDERS[path.suffix], data_files=str(path), split="train"
            )
            if path.suffix == ".txt":
                ds = ds.rename_column("text", "prompt")
            return ds
        return datasets.load_dataset(str(source), split=split)  # hub name: needs the network
    raise ValueError(f"cannot read a dataset from {type(source).__name__}")


def _require(ds, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise ValueError(f"dataset lacks column(s) {missing}; it has {ds.column_names}")


def _text(value: Any) -> str:
    """A string from a plain value or a conversational list of {"role", "content"} messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict) and "content" in value[-1]:
        return "".join(m["content"] for m in value)
    raise ValueError(f"expected text or a list of messages, got {type(value).__name__}")


def load_prompts(
    source: Any,
    *,
    column: str = "prompt",
    split: str = "train",
    limit: int | None = None,
    template: str | None = None,
) -> list[str]:
    """Prompt strings from ``source`` (column ``column``), optionally formatted by ``template``
    (e.g. ``"{prompt}\\nTL;DR:"``) and cut to the first ``limit`` rows."""
    ds = as_dataset(source, split=split)
    _require(ds, [column])
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    prompts = [_text(v) for v in ds[column]]
    if template is not None:
        if "{prompt}" not in template:
            raise ValueError(f"prompt template {template!r} lacks the field {{prompt}}")
        prompts = [template.format(prompt=p) for p in prompts]
    return prompts


def load_preference_pairs(
    source: Any,
    *,
    prompt_column: str = "prompt",
    chosen_column: str = "chosen",
    rejected_column: str = "rejected",
    split: str = "train",
    limit: int | None = None,
) -> dict[str, list[str]]:
    """``{"prompts": [...], "chosen": [...], "rejected": [...]}`` for PM / RM training."""
    ds = as_dataset(source, split=split)
    _require(ds, [prompt_column, chosen_column, rejected_column])
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return {
        "prompts": [_text(v) for v in ds[prompt_column]],
        "chosen": [_text(v) for v in ds[chosen_column]],
        "rejected": [_text(v) for v in ds[rejected_column]],
    }


def load_tldr_prompts(
    split: str = "train", *, limit: int | None = None, name: str = "trl-lib/tldr"
) -> list[str]:
    """TL;DR Reddit posts formatted as summarisation prompts (downloads ``name``)."""
    return load_prompts(name, column="prompt", split=split, limit=limit)


def load_tldr_preferences(
    split: str = "train", *, limit: int | None = None, name: str = "trl-lib/tldr-preference"
) -> dict[str, list[str]]:
    """The TL;DR human preference pairs (Stiennon et al., 92,858 train pairs; downloads)."""
    return load_preference_pairs(name, split=split, limit=limit)
