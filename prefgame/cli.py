"""The ``prefgame`` command line.

Each subcommand is a pair ``add_<name>(subparsers)`` / ``run_<name>(args) -> int``.

Error contract (README, "Error contract"): exit 0 success, 1 "did not converge" (``solve`` only),
2 bad input or unusable output location, with one line on stderr naming the file, field or value;
no traceback unless ``--debug`` or ``PREFGAME_DEBUG=1``.  Output folders are checked before any
work; inputs needing more memory than the machine has are refused up front with the estimate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import games as G
from ._validate import check_tau
from .equilibrium import KRYLOV_ABOVE, solve

#: what ``ArgumentParser.add_subparsers()`` returns
Subparsers = Any

EXIT_USAGE = 2


class UserError(Exception):
    """An error caused by the user's input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, status 2
        raise UserError(message)


def _parse_kv(items: Sequence[str] | None) -> dict:
    """``--param eps=0.2 --param n=5`` → {"eps": 0.2, "n": 5}; non-finite numbers are refused."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--param {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        try:
            val = json.loads(v)
        except json.JSONDecodeError:
            val = v
        if isinstance(val, float) and not math.isfinite(val):
            raise UserError(f"--param {k}={v}: value is not a finite number")
        out[k] = val
    return out


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or the physical memory if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


#: The solver and the learners hold about this many n×n float64 arrays at once.
ARRAYS_PER_GAME = 8


def check_memory(n: int, contexts: int = 1, *, what: str, arrays: float = ARRAYS_PER_GAME) -> None:
    """Refuse (UserError) a game of n actions whose working set 8 · arrays · c n² bytes
    (``arrays`` = ARRAYS_PER_GAME by default) exceeds the memory available."""
    need = int(8 * arrays * contexts * n * n)
    have = available_memory()
    if need > have:
        raise UserError(
            f"{what}: n = {n} needs about {need / 2**30:.1f} GiB "
            f"({arrays:g} arrays of {contexts}×{n}×{n} float64), "
            f"{have / 2**30:.1f} GiB available"
        )


def check_output_dir(path: str | os.PathLike, *, option: str = "--out") -> None:
    """An output folder must be a folder (or creatable) and writable: checked before any work."""
    if not str(path).strip():
        raise UserError(f"{option} {str(path)!r}: empty, expected a folder name")
    p = os.path.abspath(path)
    if os.path.exists(p) and not os.path.isdir(p):
        raise UserError(f"{option} {path}: is a file, expected a folder")
    probe = p
    while not os.path.exists(probe):  # the nearest existing ancestor must let us create it
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise UserError(f"{option} {path}: {probe} is a file, cannot create a folder under it")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: {probe} is not writable")


def dumps(obj: Any) -> str:
    """One line of strict JSON: NaN and ±inf become null (bare NaN is not JSON)."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj), allow_nan=False)


def add_game_options(p: argparse.ArgumentParser) -> None:
    """``--game NAME [--param K=V ...] | --matrix FILE [--mu FILE]``."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--game", help=f"built-in game: {', '.join(sorted(G.BUILTIN_GAMES))}")
    src.add_argument("--matrix", help="preference matrix file (.npy, .csv or .json)")
    p.add_argument("--mu", help="reference policy file (.npy, .csv or .json); default uniform")
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="parameter of a built-in game, e.g. --param eps=0.2 or --param n=5",
    )


def game_from_args(args: argparse.Namespace) -> G.PreferenceGame:
    """Build the game named by :func:`add_game_options`; errors become :class:`UserError`."""
    try:
        if args.game is not None:
            kwargs = _parse_kv(args.param)
            n = kwargs.get("n")
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                check_memory(n, what=f"--game {args.game} --param n={n}")
            params = " ".join(f"--param {k}={v}" for k, v in kwargs.items())
            try:
                game = G.make_game(args.game, **kwargs)
            except TypeError as exc:
                raise UserError(f"--game {args.game}: bad --param ({exc})") from None
            except (ValueError, OverflowError) as exc:
                if args.game not in G.BUILTIN_GAMES:
                    raise UserError(str(exc)) from None
                raise UserError(f"--game {args.game} {params}: {exc}") from None
            if args.mu is not None:
                mu = G.load_policy_vector(args.mu)
                try:
                    game = game.with_mu(mu)
                except ValueError as exc:
                    raise UserError(f"--mu {args.mu}: {exc}") from None
            return game
        if args.param:
            raise UserError("--param applies to --game, not --matrix")
        return G.load_game(args.matrix, args.mu)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _tau(value: str) -> float:
    try:
        tau = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tau = {value!r}, must be a number") from None
    if not np.isfinite(tau) or tau < 0:
        raise argparse.ArgumentTypeError(f"tau = {value}, must be a finite number >= 0")
    try:
        return check_tau(tau, allow_zero=True)  # subnormal or beyond 1e300: named
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tol(value: str) -> float:
    try:
        tol = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tol = {value!r}, must be a number") from None
    if not np.isfinite(tol) or tol <= 0:
        raise argparse.ArgumentTypeError(f"tol = {value}, must be a finite number > 0")
    return tol


# --------------------------------------------------------------------------- solve


def add_solve(sub: Subparsers) -> None:
    p = sub.add_parser("solve", help="exact (regularised) Nash equilibrium with its duality gap")
    add_game_options(p)
    p.add_argument("--tau", type=_tau, required=True, help="KL strength τ >= 0 (0: LP)")
    p.add_argument(
        "--tol",
        type=_tol,
        default=None,
        help="duality-gap tolerance > 0 (default: the solver's own, 1e-12 Newton, 1e-9 LP)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_solve)


def run_solve(args: argparse.Namespace) -> int:
    game = game_from_args(args)
    # Above KRYLOV_ABOVE actions the solver is matrix-free: P and a float32 block of at most
    # half its size (contexts are solved one after another).
    krylov = game.n_actions > KRYLOV_ABOVE and args.tau > 0
    c = game.n_contexts if game.batched else 1
    check_memory(
        game.n_actions, c, what="the game", arrays=(1 + 0.5 / c) if krylov else ARRAYS_PER_GAME
    )
    res = solve(game, args.tau, tol=args.tol)
    out = {
        "policy": np.asarray(res.policy).tolist(),
        "duality_gap": np.asarray(res.duality_gap).tolist(),
        "tau": args.tau,
        "n": game.n_actions,
        "iterations": int(res.iterations),
        "seconds": res.seconds,
        "converged": bool(res.converged),
    }
    if args.json:
        print(dumps(out))
    else:
        names = game.actions or tuple(str(i) for i in range(game.n_actions))
        print(f"{game.name}: n = {game.n_actions}, tau = {args.tau:g}")
        pol = np.atleast_2d(res.policy)
        for k, row in enumerate(pol):
            if len(pol) > 1:
                print(f"context {k}:")
            for a, v in zip(names, row):
                print(f"  {a:>12s}  {v:.12f}")
        print(
            f"duality gap {np.max(res.duality_gap):.3e}, residual {np.max(res.residual):.3e}, "
            f"{res.iterations} iterations, {res.seconds:.3f} s, "
            f"{'converged' if res.converged else 'NOT CONVERGED'}"
        )
    return 0 if res.converged else 1


# --------------------------------------------------------------------------- equivalence


def _beta(value: str) -> float:
    try:
        beta = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"beta = {value!r}, must be a number") from None
    if not 0.0 <= beta < 1.0:
        raise argparse.ArgumentTypeError(f"beta = {value}, must be in [0, 1)")
    return beta


def _eta(value: str) -> float:
    """argparse ``type=``: a step size η, a finite number > 0."""
    try:
        eta = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"eta = {value!r}, must be a number") from None
    if not (math.isfinite(eta) and eta > 0):
        raise argparse.ArgumentTypeError(f"eta = {value}, must be a finite number > 0")
    return eta


def _positive_tau(value: str) -> float:
    tau = _tau(value)
    if tau == 0:
        raise argparse.ArgumentTypeError("tau = 0: the learners need a regularised game, tau > 0")
    return tau


def _int_at_least(name: str, low: int) -> Callable[[str], int]:
    """argparse ``type=``: an integer ≥ ``low``, else one line naming ``name`` and the value."""

    def parse(value: str) -> int:
        try:
            v = int(value)
        except ValueError:
            v = None
        if v is None or v < low:
            shown = repr(value) if v is None else value
            raise argparse.ArgumentTypeError(f"{name} = {shown}, must be an integer >= {low}")
        return v

    return parse


_seed = _int_at_least("seed", 0)


def add_equivalence(sub: Subparsers) -> None:
    p = sub.add_parser(
        "equivalence",
        help="online IPO = Nash-MD: run the exact solver and the learners to convergence",
    )
    add_game_options(p)
    p.add_argument("--tau", type=_positive_tau, required=True, help="KL strength τ > 0")
    p.add_argument(
        "--beta", type=_beta, default=0.25, help="IPO-MD mixture weight β in [0, 1) (default 0.25)"
    )
    p.add_argument(
        "--init-seed",
        type=_seed,
        default=None,
        help="start every learner from a random policy (Dirichlet(1), this seed) instead of μ",
    )
    p.add_argument("--max-steps", type=int, default=1_000_000, help="cap on each learner's steps")
    p.add_argument(
        "--methods",
        nargs="+",
        metavar="NAME",
        default=[],
        help="also run these post-paper learners (docs/algorithms.md): "
        "mmd omwu extragradient inpo sppo dno spo",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_equivalence)


def run_equivalence(args: argparse.Namespace) -> int:
    from .equivalence import LEARNER_METHODS, METHODS, TARGET_TOL, equivalence_study

    for m in args.methods:
        if m not in LEARNER_METHODS:
            raise UserError(f"--methods {m}: unknown method; known: {' '.join(LEARNER_METHODS)}")
    methods = list(dict.fromkeys(args.methods))
    game = game_from_args(args)
    check_memory(game.n_actions, game.n_contexts if game.batched else 1, what="the game")
    if args.max_steps < 1:
        raise UserError(f"--max-steps {args.max_steps}: must be >= 1")
    init = None
    if args.init_seed is not None:
        rng = np.random.default_rng(args.init_seed)
        init = rng.dirichlet(np.ones(game.n_actions), size=game.P.shape[:-2] or None)
        init = np.maximum(init, 1e-6)
        init = init / init.sum(axis=-1, keepdims=True)
    try:
        out = equivalence_study(
            game, args.tau, args.beta, init=init, max_steps=args.max_steps, methods=methods
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(dumps(out))
        return 0
    print(f"{game.name}: n = {game.n_actions}, tau = {args.tau:g}, beta = {args.beta:g}")
    print(
        f"  {'method':<11s} {'duality gap':>12s} {'max|pi - pi*|':>14s} {'steps':>8s}  "
        f"{'stopped':<15s} at pi*"
    )
    for m in METHODS:
        e = out[m]
        print(
            f"  {m:<11s} {e['duality_gap']:12.3e} {e['max_abs_diff']:14.3e} {e['steps']:8d}  "
            f"{e.get('stopped', '-'):<15s} {'yes' if e['at_equilibrium'] else 'NO'}"
        )
    nm = out["nash_md"]
    within = "within" if nm["converged"] else "NOT within"
    print(
        f"Nash-MD (eta_t = 2/(tau(t+2))): {within} {nm['target']:g} after {nm['steps']} steps, "
        f"KL(pi*||pi_T) = {nm['kl']:.3e} <= bound 8/(tau^2 (T+1)) = {nm['kl_bound']:.3e}"
    )
    for b in out["nash_md_constant"]:
        print(
            f"Nash-MD constant eta = {b['eta']:g}: biased fixed point, "
            f"max|pi - pi*| = {b['max_abs_diff']:.3e}"
        )
    im = out["ipo_md"]
    print(
        f"IPO-MD mixture pi^(1-beta) mu^beta vs pi* at tau/(1-beta) = {im['mixture_tau']:g}: "
        f"max abs diff {im['mixture_max_abs_diff']:.3e} (Prop. 5.2)"
    )
    if methods:
        print(
            f"post-paper learners (target within {TARGET_TOL:g}; "
            "steps to it, last / average iterate):"
        )
        for m in methods:
            e = out[m]
            s = e["steps_to_target"]
            print(
                f"  {m:<13s} target {e['target']:<8s} {e['guarantee']:>7s}-iterate claim  "
                f"last {e['target_max_abs_diff']:.3e}  average {e['average_max_abs_diff']:.3e}  "
                f"steps {s['last'] if s['last'] is not None else '-'} / "
                f"{s['average'] if s['average'] is not None else '-'}  "
                f"{'reached' if e['converged'] else 'NOT reached'}"
            )
    return 0


# --------------------------------------------------------------------------- figures


def add_figures(sub: Subparsers) -> None:
    from .figures import FIGURES

    p = sub.add_parser("figures", help="draw the study's figures (PNG and SVG)")
    p.add_argument("--out", default="figures", help="output folder (default: figures)")
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"only these: {', '.join(FIGURES)}")
    p.set_defaults(run=run_figures)


def run_figures(args: argparse.Namespace) -> int:
    from .figures import make_figures

    check_output_dir(args.out)
    try:
        paths = make_figures(
            args.out, args.only, progress=lambda n: print(f"  drew {n}", file=sys.stderr)
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for path in paths:
        print(path)
    return 0


# --------------------------------------------------------------------------- study


def add_study(sub: Subparsers) -> None:
    p = sub.add_parser(
        "study",
        help="the main job: the whole tabular study on the built-in games, "
        "as a markdown report with figures",
    )
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument(
        "--tau", type=_positive_tau, nargs="+", default=[0.1, 1.0], help="τ values (default 0.1 1)"
    )
    p.add_argument("--games", nargs="+", metavar="NAME", help="subset of the study's games")
    p.add_argument(
        "--matrix",
        help="your own preference matrix (.npy, .csv or .json): study it "
        "(with --games: beside those built-in games)",
    )
    p.add_argument("--mu", help="reference policy file for --matrix (default uniform)")
    p.add_argument("--force", action="store_true", help="recompute parts already in --out")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_study_cmd)


def run_study_cmd(args: argparse.Namespace) -> int:
    from .study import BUILTIN_STUDY_GAMES, free_game_name, register_game, run_study

    check_output_dir(args.out)
    games = args.games
    if args.mu is not None and args.matrix is None:
        raise UserError("--mu applies to --matrix")
    if args.matrix is not None:
        from pathlib import Path

        try:
            game = G.load_game(args.matrix, args.mu)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        stem = Path(args.matrix).stem
        if stem in BUILTIN_STUDY_GAMES:
            raise UserError(
                f"--matrix {args.matrix}: its name {stem!r} is a built-in study game; "
                "rename the file"
            )
        name = free_game_name(args.out, stem, game)
        if name != stem:
            print(
                f"prefgame study: note: {args.out} already holds another game named {stem!r}; "
                f"--matrix {args.matrix} is studied as {name!r}",
                file=sys.stderr,
            )
        register_game(name, game, replace=True)
        games = [name, *(args.games or [])]
    try:
        path = run_study(
            args.out,
            taus=args.tau,
            games=games,
            force=args.force,
            figures=not args.no_figures,
            progress=not args.quiet,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(path)
    return 0


# --------------------------------------------------------------------------- explore


def add_explore(sub: Subparsers) -> None:
    p = sub.add_parser(
        "explore", help="interactive explorer in the browser (needs the 'explore' extra)"
    )
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.set_defaults(run=run_explore)


def run_explore(args: argparse.Namespace) -> int:
    from .explore.ports import check_port

    try:
        if args.port is not None:
            check_port(args.port)  # before the (slow) Panel import
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        from .explore.app import serve
    except ImportError as exc:
        raise UserError(
            f"explore needs the 'explore' extra: pip install 'prefgame[explore]' ({exc})"
        ) from None
    serve(args.port, open_browser=not args.no_browser)  # returns when interrupted (Ctrl-C)
    print("prefgame: interrupted; the explorer stopped", file=sys.stderr)
    return 130


def add_verify_llm(sub: Subparsers) -> None:
    p = sub.add_parser(
        "verify-llm",
        help="train every LLM method on an enumerable sequence game and measure it exactly "
        "against the target its theory promises (needs the 'llm' extra)",
    )
    p.add_argument("--methods", nargs="+", metavar="NAME", default=[], help="default: all")
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE_OR_MODULE",
        help="import a module that registers methods (prefgame.llm.register_method) first",
    )
    p.add_argument("--tau", type=_positive_tau, default=0.2, help="KL strength τ (default 0.2)")
    p.add_argument("--beta", type=_beta, default=0.5, help="mixture β in [0, 1) (default 0.5)")
    p.add_argument("--steps", type=_int_at_least("steps", 1), default=800, help="default 800")
    p.add_argument("--seed", type=_seed, default=0, help="model initialisation and sampling seed")
    p.add_argument(
        "--batch-size", type=_int_at_least("batch-size", 1), default=128, help="pairs per step"
    )
    p.add_argument(
        "--log-every",
        type=_int_at_least("log-every", 1),
        default=20,
        help="exact evaluation period (steps)",
    )
    p.add_argument(
        "--eta", type=_eta, default=2.5, help="INPO's and SPPO's step η (default 2.5; INPO: ητ ≤ 1)"
    )
    p.add_argument(
        "--snapshot-every",
        type=_int_at_least("snapshot-every", 1),
        default=100,
        help="steps per INPO/SPPO iteration and per MPO magnet period (default 100)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="also write verify_llm.json and the figure verify_llm.png/.svg into this folder",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_verify_llm)


def run_verify_llm(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output_dir(args.out)
    try:
        import torch

        from .llm.verify import VerifyConfig, summary_lines, verify_llm
    except ImportError as exc:
        raise UserError(
            f"verify-llm needs the 'llm' extra: pip install 'prefgame[llm]' ({exc})"
        ) from None
    from .llm.methods import METHODS, load_plugin

    try:
        for spec in args.plugin:
            load_plugin(spec)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for m in args.methods:
        if m not in METHODS:
            raise UserError(f"--methods {m}: unknown method; known: {' '.join(METHODS)}")
    if args.batch_size < 2:
        raise UserError("--batch-size = 1, must be >= 2 (RL's leave-one-out baseline)")
    try:  # every method's settings are checked before the first one trains
        cfg = VerifyConfig(
            methods=tuple(dict.fromkeys(args.methods)),
            tau=args.tau,
            beta=args.beta,
            steps=args.steps,
            seed=args.seed,
            batch_size=args.batch_size,
            log_every=args.log_every,
            eta=args.eta,
            snapshot_every=args.snapshot_every,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small runs fastest on one thread
    try:
        report = verify_llm(cfg, progress=lambda s: print(s, file=sys.stderr, flush=True))
    finally:
        torch.set_num_threads(threads)
    if args.out is not None:
        from .figures import save_verify_llm

        out = os.path.abspath(args.out)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "verify_llm.json"), "w") as f:
            f.write(dumps(report) + "\n")
        save_verify_llm(report, os.path.join(out, "verify_llm"))
    if args.json:
        print(dumps(report))
    else:
        print("\n".join(summary_lines(report)))
    return 0


# --------------------------------------------------------------------------- main

#: Subcommand registrars, in the order they appear in ``--help``.
COMMANDS: list[Callable] = [add_solve, add_equivalence, add_figures, add_study]
COMMANDS.append(add_explore)
COMMANDS.append(add_verify_llm)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="prefgame",
        description=__doc__.splitlines()[0],
        epilog="--debug (anywhere) or PREFGAME_DEBUG=1: show tracebacks instead of one-line errors",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def _debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("PREFGAME_DEBUG", "") not in ("", "0")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand under the error contract (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug(argv)
    argv = [a for a in argv if a != "--debug"]
    try:
        args = build_parser().parse_args(argv)
        if sys.stdout is None:  # `prefgame ... >&-`: Python leaves sys.stdout = None
            raise UserError(
                "standard output is closed: nowhere to print the result "
                "(redirect it instead, e.g. > out.txt or > /dev/null)"
            )
        code = int(args.run(args) or 0)
        sys.stdout.flush()
        return code
    except UserError as exc:
        if debug:
            raise
        print(f"prefgame: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # `prefgame ... | head -1`: the reader left; not an error.  Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        why = f"; {_one_line(exc)}" if str(exc) else ""
        print(f"prefgame: interrupted{why}", file=sys.stderr)
        return 130
    except MemoryError as exc:
        if debug:
            raise
        print(
            f"prefgame: error: out of memory ({_one_line(exc)}); try a smaller input",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except (OSError, ValueError, OverflowError) as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
        msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        print(
            f"prefgame: error: {where}{msg} (rerun with --debug for the traceback)", file=sys.stderr
        )
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
