"""Typed configuration of an online preference-optimisation run.

One flat dataclass, :class:`OnlineConfig`, holds every hyperparameter with a one-line help text
(``field(metadata={"help": ...})``), is validated in ``__post_init__`` (a bad value raises a
``ValueError`` naming the field, before any model is loaded), loads from a JSON / YAML / TOML file
and takes ``--key value`` overrides from the command line, parsed by an ``argparse`` parser
built from the fields (``--help`` lists every field with its default and help; the options are
those of ``transformers.HfArgumentParser``, but this module imports neither transformers nor
torch, so a config is checked in a fraction of a second):

    cfg = OnlineConfig.from_args(["--config", "run.yaml", "--method", "ipo_md", "--beta", "0.125"])

The helpers :func:`load_config`, :func:`config_parser` and :func:`config_from_args` work for any
dataclass, so experiment scripts can define their own configs the same way.  The method names
come from the one registry, :data:`prefgame.llm.methods.METHODS`.

Schedules: ``tau``, ``beta`` and ``lr`` peaks are numbers.  The learning rate follows
``lr_schedule`` through ``transformers.get_scheduler`` (:data:`LR_SCHEDULES`,
:func:`prefgame.llm.trainer.lr_scheduler`); ``tau_schedule`` and ``beta_schedule`` are strings
read by :func:`schedule_value`, the one home of every other scheduled value:
``"constant"``, ``"linear:<end>"``, ``"cosine:<end>"`` (from the base value to ``<end>`` over
``max_steps``) or ``"inverse"`` (value · 2/(t + 2), Nash-MD's step-size rule).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import numbers
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from numpy import bool_ as np_bool

from prefgame import optim
from prefgame.llm.methods import METHODS
from prefgame.optim import Schedule

__all__ = [
    "LR_SCHEDULES",
    "OnlineConfig",
    "check_types",
    "config_from_args",
    "config_help",
    "config_parser",
    "load_config",
    "schedule",
    "schedule_value",
]

#: ``lr_schedule`` values and the ``transformers.get_scheduler`` schedule each one names.
LR_SCHEDULES = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}

T = TypeVar("T")


def _f(default: Any, help: str, **kw) -> Any:
    """A dataclass field with a help text; list/dict defaults are deep-copied per instance."""
    if isinstance(default, (list, dict)):
        return field(
            default_factory=lambda d=default: copy.deepcopy(d), metadata={"help": help}, **kw
        )
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class OnlineConfig:
    """Hyperparameters of one online run (defaults: a tiny CPU run; paper values in comments)."""

    # --- method ----------------------------------------------------------------------------
    method: str = _f(
        "online_ipo",
        f"a registered method: {', '.join(METHODS)} (prefgame.llm.methods; yours through "
        "register_method, or --plugin FILE on the command line)",
    )
    tau: float = _f(
        1.0,
        "KL-regularisation strength τ (paper: IPO 1.0, DPO 5.0, SLiC 10.0, "
        "IPO-MD 1.0, Nash-MD-PG 0.008, RL 0.05)",
    )
    beta: float = _f(0.0, "mixture coefficient β of π^(1−β) μ^β (IPO-MD, Nash-MD-PG; paper 0.125)")
    eta: float = _f(
        1.0,
        "step size η of the iterated methods: INPO regresses h on η(p − ½) (ητ ≤ 1), SPPO "
        "u = log π/π_t on η(r̂ − ½)",
    )
    snapshot_every: int = _f(
        0,
        "steps between refreshes of the snapshot π_t (INPO's and SPPO's iteration length, "
        "MPO's magnet period); methods with a snapshot need >= 1",
    )
    tau_schedule: str = _f(
        "constant", "schedule of τ: constant | linear:<end> | cosine:<end> | inverse"
    )
    beta_schedule: str = _f("constant", "schedule of β (same syntax as tau_schedule)")
    logp_reduction: str = _f("sum", "per-sequence log-prob: 'sum' or 'mean' over tokens")
    rl_baseline: str = _f(
        "loo",
        "RL reward baseline: 'loo' (leave-one-out mean of the other "
        "samples' rewards, unbiased, as RLOO), 'mean' (batch mean incl. "
        "the sample itself: gradient scaled by 1 − 1/B, i.e. τ inflated "
        "by B/(B − 1)) or 'none'",
    )

    # --- models ----------------------------------------------------------------------------
    policy_name: str = _f(
        "",
        "Hugging Face name or path of the policy (also π_ref unless "
        "ref_name is set); empty when a model object is passed in",
    )
    ref_name: str = _f(
        "", "name or path of the reference μ (default: the policy's initial weights)"
    )
    lora_r: int = _f(0, "LoRA rank (0 = full fine-tuning); with LoRA μ = base, adapters off")
    lora_alpha: float = _f(16.0, "LoRA alpha")
    lora_dropout: float = _f(0.0, "LoRA dropout")
    lora_target_modules: list[str] = _f([], "LoRA target module names (empty = peft's default)")  # noqa: RUF009
    dtype: str = _f("float32", "model dtype: float32 | bfloat16 | float16")

    # --- sampling --------------------------------------------------------------------------
    max_prompt_length: int = _f(512, "prompts are truncated (from the left) to this many tokens")
    max_new_tokens: int = _f(64, "length limit of a completion")
    temperature: float = _f(
        1.0,
        "sampling temperature T; training then optimises the tempered "
        "policy π_T = softmax(logits/T) against μ_T: the loss's log π "
        "and log μ use the same T as the sampler",
    )
    top_p: float = _f(
        1.0,
        "nucleus sampling is refused in training (must be 1): the truncated "
        "distribution is off-policy for the loss and its log-ratio to μ is "
        "infinite outside the nucleus; use top_p only in evaluation",
    )
    disable_dropout: bool = _f(
        True,
        "run every log-prob forward (training included) without "
        "dropout, as TRL's disable_dropout; False keeps the model's "
        "dropout in the training forward only",
    )

    # --- batches and optimisation -----------------------------------------------------------
    batch_size: int = _f(8, "prompts per optimiser step (paper: 32)")
    micro_batch_size: int = _f(
        0,
        "prompts per forward/backward (0 = batch_size); "
        "gradient accumulation = batch_size / micro_batch_size",
    )
    generation_batch_size: int = _f(0, "prompts per generation call (0 = batch_size)")
    max_steps: int = _f(100, "optimiser steps (paper: 30k)")
    optimizer: str = _f("adamw", "adamw | adafactor (paper: Adafactor)")
    lr: float = _f(1e-4, "peak learning rate (paper: 1e-4, Nash-MD-PG 3e-5)")
    lr_schedule: str = _f(
        "constant", "constant | linear | cosine after the warmup (transformers.get_scheduler)"
    )
    warmup_steps: int = _f(0, "linear learning-rate warmup steps (lr · s/W at step s < W)")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    adam_beta1: float = _f(0.9, "AdamW β1 (0 avoids momentum orbits around preference cycles)")
    adam_beta2: float = _f(0.999, "AdamW β2")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0 = off)")
    bf16: bool = _f(False, "bf16 autocast (GPU) through accelerate")

    # --- bookkeeping -----------------------------------------------------------------------
    seed: int = _f(0, "seed of data order, sampling and initialisation")
    output_dir: str = _f("runs/online", "where logs and checkpoints go")
    save_every: int = _f(0, "checkpoint every N steps (0 = only at the end)")
    keep_checkpoints: int = _f(2, "how many recent checkpoints to keep (0 = all)")
    resume_from: str = _f("", "checkpoint directory to resume from, or 'latest'")
    overwrite: bool = _f(
        False,
        "allow a run into an output_dir that holds another run: that run is moved, whole, "
        "into output_dir/replaced-<time>/ (nothing is deleted); refused otherwise",
    )
    win_rate_every: int = _f(1, "every N steps sample from μ and log P(π ≻ μ) (0 = never)")
    log_tensorboard: bool = _f(True, "also write TensorBoard scalars")
    progress_bar: bool = _f(True, "show a tqdm bar")

    def __post_init__(self) -> None:
        check_types(self)  # strict types first: True is not 1, 2.5 is not 3
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {tuple(METHODS)}")
        _positive(
            self,
            "tau",
            "temperature",
            "batch_size",
            "max_steps",
            "max_new_tokens",
            "max_prompt_length",
        )
        _nonnegative(
            self,
            "lr",
            "warmup_steps",
            "weight_decay",
            "max_grad_norm",
            "save_every",
            "keep_checkpoints",
            "win_rate_every",
            "lora_r",
            "micro_batch_size",
            "generation_batch_size",
        )
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta = {self.beta}, must lie in [0, 1]")
        for name in ("adam_beta1", "adam_beta2", "lora_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} = {getattr(self, name)!r}, must lie in [0, 1)")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed = {self.seed}, must lie in [0, 2**32)")
        for i, name in enumerate(self.lora_target_modules):
            if not (isinstance(name, str) and name):
                raise ValueError(
                    f"lora_target_modules[{i}] = {name!r}, must be a module name (a string)"
                )
        if self.top_p != 1.0:
            raise ValueError(
                f"top_p = {self.top_p}: nucleus sampling makes training off-policy "
                "(every method's theory needs y ~ π, or the β-mixture) and the "
                "log-ratio to μ infinite outside the nucleus; top_p must be 1 in "
                "training (use temperature, which is applied consistently)"
            )
        for name in ("tau_schedule", "beta_schedule"):
            schedule_value(getattr(self, name), 1.0, 0, 1)  # raises on a bad spec
        choices = {
            "logp_reduction": ("sum", "mean"),
            "rl_baseline": ("loo", "mean", "none"),
            "optimizer": ("adamw", "adafactor"),
            "lr_schedule": tuple(LR_SCHEDULES),
            "dtype": ("float32", "bfloat16", "float16"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} = {getattr(self, name)!r}; choose one of {allowed}")
        for name in ("micro_batch_size", "generation_batch_size"):
            size = getattr(self, name) or self.batch_size
            if self.batch_size % size:
                raise ValueError(
                    f"batch_size = {self.batch_size} is not a multiple of {name} = {size}"
                )
        # IPO-MD with β = 0 is online IPO: allowed, as in the paper's ablation
        method = METHODS[self.method]
        if method.feedback == "reward" and self.rl_baseline == "loo" and self.batch_size < 2:
            raise ValueError(
                "rl_baseline = 'loo' needs batch_size >= 2 (the baseline of a "
                "sample is the mean reward of the others)"
            )
        if not (math.isfinite(self.eta) and self.eta > 0):
            raise ValueError(f"eta = {self.eta!r}, must be a finite number > 0")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every = {self.snapshot_every}, must be >= 0")
        if method.snapshots and self.snapshot_every < 1:
            raise ValueError(
                f"method {self.method!r} refreshes a snapshot of π: set snapshot_every >= 1 "
                "(steps per iteration)"
            )
        weight = getattr(method.loss, "anchor_weight", None)
        if weight is not None and not 0.0 <= weight(self.tau, self.eta) <= 1.0:
            raise ValueError(
                f"eta * tau = {self.eta} * {self.tau} = {self.eta * self.tau:g} > 1 for method "
                f"{self.method!r} (its anchor μ^(ητ) π_t^(1−ητ) needs ητ <= 1)"
            )
        if not method.uses_beta and self.beta:
            raise ValueError(
                f"beta = {self.beta} has no effect for method {self.method!r} "
                "(it samples from π); use ipo_md or nash_md_pg"
            )

    @property
    def micro(self) -> int:
        """Prompts per forward/backward pass."""
        return self.micro_batch_size or self.batch_size

    @property
    def gen_batch(self) -> int:
        """Prompts per generation call."""
        return self.generation_batch_size or self.batch_size

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> OnlineConfig:
        """Parse ``[--config FILE] [--field value ...]`` (see :func:`config_from_args`)."""
        return config_from_args(cls, argv)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _positive(cfg, *names: str) -> None:
    for name in names:
        v = getattr(cfg, name)
        if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} = {v!r}, must be a finite number > 0")


def _nonnegative(cfg, *names: str) -> None:
    for name in names:
        v = getattr(cfg, name)
        if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} = {v!r}, must be a finite number >= 0")


# --- schedules -------------------------------------------------------------------------------


def schedule(spec: str, base: float, total_steps: int) -> Schedule:
    """The schedule ``t -> value`` named by ``spec``, starting at ``base`` (built from
    :mod:`prefgame.optim`).

    ``constant`` → base;  ``linear:e`` → base + (e − base)·t/T;
    ``cosine:e`` → e + (base − e)(1 + cos(π t/T))/2;  ``inverse`` → base · 2/(t + 2);
    T = ``total_steps``, t clipped to T.
    """
    kind, _, arg = spec.partition(":")
    if kind == "constant" and not arg:
        return optim.constant(base)
    if kind == "inverse" and not arg:
        return optim.inverse_time(base, 2.0)
    if kind in ("linear", "cosine"):
        try:
            end = float(arg)
        except ValueError:
            raise ValueError(f"schedule {spec!r}: expected '{kind}:<end value>'") from None
        return getattr(optim, kind)(base, max(total_steps, 1), end)
    raise ValueError(
        f"unknown schedule {spec!r}; use constant, linear:<end>, cosine:<end> or inverse"
    )


def schedule_value(spec: str, base: float, step: int, total_steps: int) -> float:
    """Value at ``step`` (0-based) of :func:`schedule` ``(spec, base, total_steps)``."""
    return schedule(spec, base, total_steps)(max(step, 0))


# --- generic loading -------------------------------------------------------------------------


def _read_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ValueError(f"config file {str(path)!r} {what}")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"config file {str(path)!r} is not UTF-8 text") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except RecursionError:
            raise ValueError(f"config file {str(path)!r}: YAML nested too deeply") from None
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}" if where is not None else ""
            raise ValueError(
                f"config file {str(path)!r}: malformed YAML{at} "
                f"({getattr(exc, 'problem', None) or exc})"
            ) from None
    elif path.suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ValueError("TOML config files need Python >= 3.11; use .json or .yaml") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {str(path)!r}: malformed TOML ({exc})") from None
    elif path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {str(path)!r}: malformed JSON ({exc})") from None
        except RecursionError:
            raise ValueError(f"config file {str(path)!r}: JSON nested too deeply") from None
    else:
        raise ValueError(f"config file {str(path)!r}: use .json, .yaml/.yml or .toml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of field: value")  # noqa: TRY004 - project rule: ValueError
    return data


def _check_type(name: str, typ: Any, value: Any) -> Any:
    """A file value (YAML/JSON/TOML already typed) must have the declared type, strictly:
    a bool is not an int, 2.5 is not an int (``{"max_steps": 2.5}`` must not run 3 steps);
    an int is accepted for a float."""
    tname = getattr(typ, "__name__", str(typ))
    if typ is bool:
        ok = isinstance(value, (bool, np_bool))
        if ok:
            value = bool(value)
    elif typ is int:  # numpy integers count, bools (also integral) do not
        ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np_bool))
        if ok:
            value = int(value)
    elif typ is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np_bool))
        if ok:
            value = float(value)
    elif typ is str:
        ok = isinstance(value, str)
    elif typ is list or typing.get_origin(typ) is list:
        ok = isinstance(value, list)
    elif typ is dict or typing.get_origin(typ) is dict:
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise ValueError(f"{name} = {value!r} ({type(value).__name__}), must be of type {tname}")
    return value


def check_types(cfg: Any) -> None:
    """Check every field of dataclass instance ``cfg`` against its declared type, strictly
    (see :func:`_check_type`), normalising numpy scalars to Python ones; the first field of
    the wrong type raises ``ValueError`` naming it, its value and the type."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        setattr(cfg, f.name, _check_type(f.name, hints[f.name], getattr(cfg, f.name)))


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> T:
    """Build dataclass ``cls`` from an optional file, then ``overrides`` (unknown keys error).

    Values keep their types (a YAML ``true`` is a bool, ``"3"`` a string): ``cls`` checks them
    strictly in ``__post_init__``.
    """
    values: dict[str, Any] = {}
    if path:
        values.update(_read_file(path))
    values.update(overrides or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"unknown config field(s) {unknown} for {cls.__name__}; known: {sorted(names)}"
        )
    return cls(**values)


class _Parser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors raise ``ValueError`` (one line naming the option and
    the value) instead of printing the usage and exiting: the caller decides (the command lines
    turn it into ``error: ...`` on stderr and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        opt, _, what = message.partition(": ")
        if opt.startswith("argument ") and what:
            opt = opt.removeprefix("argument ").split("/")[0]
            if what.startswith("expected"):  # "--tau" as the last word: no value follows
                message = f"missing value after {opt!r}"
            elif re.match(r"\w+ = ", what):  # our converters name the field already
                message = what
        raise ValueError(message)


def _add_field(parser: argparse.ArgumentParser, f: dataclasses.Field, typ: Any) -> None:
    """One field's options: ``--name`` and ``--name-with-dashes``; a bool also takes no value
    (true) and, when it defaults to true, ``--no_name``; a list takes one or more values."""
    names = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
    kw: dict[str, Any] = {"help": f.metadata.get("help", "")}
    if f.default is not dataclasses.MISSING:
        kw["default"] = f.default
    elif f.default_factory is not dataclasses.MISSING:
        kw["default"] = f.default_factory()
    else:
        kw["required"] = True
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    base = args[0] if typing.get_origin(typ) in (typing.Union, types.UnionType) else typ
    if base is bool:
        parser.add_argument(*names, type=_from_text(f.name, bool), nargs="?", const=True, **kw)
        if f.default is True:
            no = [f"--no_{f.name}", f"--no-{f.name.replace('_', '-')}"]
            parser.add_argument(*no, action="store_false", dest=f.name, help=kw["help"])
    elif base is list or typing.get_origin(base) is list:
        item = (typing.get_args(base) or (str,))[0]
        parser.add_argument(*names, type=_from_text(f.name, item), nargs="+", **kw)
    elif base is dict or typing.get_origin(base) is dict:
        parser.add_argument(*names, type=_from_text(f.name, dict), **kw)
    else:
        parser.add_argument(*names, type=_from_text(f.name, base), **kw)


_UNSET = object()  # marks an option not given on the command line


def _from_text(name: str, typ: type) -> Callable[[str], Any]:
    """argparse ``type=`` converter of field ``name``: a command-line string to ``typ``
    (bool: 1/true/yes/on or 0/false/no/off; int: "2.5" is refused)."""

    def convert(raw: str) -> Any:
        try:
            if typ is dict:
                value = json.loads(raw)
                if not isinstance(value, dict):
                    raise ValueError
                return value
            if typ is bool:
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            return typ(raw)
        except ValueError:  # json.JSONDecodeError is a ValueError
            raise argparse.ArgumentTypeError(
                f"{name} = {raw!r} is not a valid "
                + ("JSON object" if typ is dict else typ.__name__)
            ) from None

    convert.__name__ = typ.__name__
    return convert


def config_parser(cls: type) -> argparse.ArgumentParser:
    """The command-line parser of dataclass ``cls``: ``--config FILE`` and one ``--field value``
    (also ``--field-name value``; ``--no_flag`` for a bool that defaults to true) per field, with
    the field's help text and default; list fields take ``a,b`` or ``a b``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)  # `python -m pkg` names itself
    parser = _Parser(
        prog=f"python -m {spec.name.removesuffix('.__main__')}" if spec else None,
        usage=f"%(prog)s [--config FILE.json|.yaml|.toml] [--FIELD VALUE ...]   ({cls.__name__})",
        # the docstring's first line, Sphinx roles (:class:`X`) shown as plain names
        description=re.sub(r":\w+:`~?([^`]+)`", r"\1", (cls.__doc__ or " ").strip().split("\n")[0]),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--config",
        default=None,
        help="a .json, .yaml/.yml or .toml file of field: value pairs; options given on the "
        "command line override it",
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.init:
            _add_field(parser, f, hints[f.name])
    return parser


def config_from_args(cls: type[T], argv: Sequence[str] | None = None) -> T:
    """``cls`` from ``argv`` (default ``sys.argv[1:]``): ``--config FILE`` first, then every
    ``--field value`` given on the command line (parsed by :func:`config_parser`).

    ``-h`` / ``--help`` prints every field with its default and description, then exits 0.
    A bad option or value raises ``ValueError`` naming it.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = config_parser(cls)
    fields = dataclasses.fields(cls)
    # options not given stay _UNSET (argparse fills defaults only into missing attributes)
    given = argparse.Namespace(**{f.name: _UNSET for f in fields})
    given, rest = parser.parse_known_args(argv, namespace=given)
    if rest:
        options = [a.partition("=")[0].lstrip("-").replace("-", "_") for a in rest if a[:1] == "-"]
        if not options:
            raise ValueError(f"unexpected argument {rest[0]!r}; use --field value")
        raise ValueError(
            f"unknown config field(s) {sorted(options)} for {cls.__name__}; "
            f"known: {sorted(f.name for f in fields)}"
        )
    hints = typing.get_type_hints(cls)
    overrides = {}
    for f in fields:
        value = getattr(given, f.name)
        if value is _UNSET:
            continue
        if typing.get_origin(hints[f.name]) is list:  # "a,b" or "a b" (or "" for none)
            value = [s for item in value for s in item.split(",") if s]
        overrides[f.name] = value
    return load_config(cls, given.config, overrides)


def config_help(cls: type) -> str:
    """The ``--help`` text of :func:`config_parser`: every field, its default and its help."""
    return config_parser(cls).format_help()
