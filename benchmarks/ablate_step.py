"""One optimisation of the online step at a time: the same step with the change on and off.

    python benchmarks/ablate_step.py                       # both changes, --preset long setting
    python benchmarks/ablate_step.py --change nash_md_pg_one_batch --repeats 5
    python benchmarks/ablate_step.py --phases online_ipo   # where one step's time goes

Two trainers are built from the same saved policy, one with the change and one without, and
step alternately in one process (``--repeats`` times after one warm-up step each), each step
timed by the process's CPU seconds.  The setting is ``online_step.py --preset long``'s: the
25.56M GPT-2-style policy, 8 prompts of 64 tokens, ≤ 128 new tokens, fp32, 1 thread.

Changes:

* ``nash_md_pg_one_batch`` -- Nash-MD-PG draws y ~ π and y' ~ π^(1−β) μ^β in one decoding
  batch (π decodes 2B rows once per token, μ the B rows of y'); off: two calls, π decoding B
  rows in each (the code before 2026-11-27).
* ``ipo_md_sampler_ref_logp`` -- IPO-MD takes log μ from the mixture sampler (fp32, temperature
  1); off: one more batched μ forward recomputes it.  Also printed: the largest difference
  between the two log μ on one rollout (the change is allowed because it is below 1e-5).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def _trainer(workdir: Path, method: str):
    """The trainer of ``online_step.py --preset long``'s prefgame worker for ``method``."""
    import online_step

    return online_step.prefgame_trainer(_preset(workdir, method))


def _preset(workdir: Path, method: str = "online_ipo") -> argparse.Namespace:
    """``online_step.py --preset long``'s setting on the CPU (τ = 0.1, its default)."""
    import online_step

    long = online_step.PRESETS["long"]
    return argparse.Namespace(
        **long, vocab=256, tau=0.1, device="cpu", dir=str(workdir), method=method
    )


def _variants(change: str, workdir: Path):
    """(trainer with the change, trainer without it)."""
    if change == "nash_md_pg_one_batch":
        on, off = _trainer(workdir, "nash_md_pg"), _trainer(workdir, "nash_md_pg")
        off.method = dataclasses.replace(off.method, sampler=_TwoCallSampler())
        return on, off
    if change == "ipo_md_sampler_ref_logp":
        on, off = _trainer(workdir, "ipo_md"), _trainer(workdir, "ipo_md")

        class Recompute(type(off)):
            reuses_sampler_ref_logp = False

        off.__class__ = Recompute
        return on, off
    raise ValueError(f"--change {change!r}")


class _TwoCallSampler:
    """Nash-MD-PG's draw before the change: y ~ π and y' ~ mixture in two decoding calls."""

    per_prompt = 1
    draws_pairs = True

    def draw(self, trainer, prompts, beta):
        return trainer.sample(prompts, 0.0), trainer.sample(prompts, beta)


def _ref_logp_gap(trainer) -> float:
    """max |log μ (sampler) − log μ (training path)| over one IPO-MD rollout's tokens."""
    from prefgame.llm import token_logprobs

    ro = trainer.collect()
    gap = 0.0
    for b in (ro.y, ro.y2):
        want = token_logprobs(trainer.ref, b, temperature=trainer.cfg.temperature)
        gap = max(gap, float((b.ref_logp - want).abs().max()))
    return gap


def phases(trainer, repeats: int) -> None:
    """CPU seconds of each phase of ``repeats`` steps (after a warm-up): sampling, the batched
    μ forward, the loss's forward, the backward and the optimiser step."""
    spent: dict[str, float] = {}

    def timed(obj, name: str, key: str) -> None:
        fn = getattr(obj, name)

        def wrapper(*a, **k):
            t0 = time.process_time()
            out = fn(*a, **k)
            spent[key] = spent.get(key, 0.0) + time.process_time() - t0
            return out

        setattr(obj, name, wrapper)

    timed(trainer, "sample", "sampling")
    timed(trainer, "fill_ref_logp", "mu forward")
    timed(trainer, "loss", "loss forward")
    timed(trainer.accelerator, "backward", "backward")
    timed(trainer.optimizer, "step", "optimiser")
    for i in range(repeats + 1):
        spent.clear()
        t0 = time.process_time()
        logs = trainer.step()
        total = time.process_time() - t0
        if i:
            parts = ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
            print(
                f"{trainer.cfg.method} step {i}: {total:.2f} s = {parts} (CPU seconds; "
                f"mean length {logs['gen_len']:.1f})",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--change",
        action="append",
        choices=["nash_md_pg_one_batch", "ipo_md_sampler_ref_logp"],
        help="the change to measure (repeatable; default: both)",
    )
    p.add_argument(
        "--phases",
        choices=["online_ipo", "ipo_md", "nash_md_pg"],
        help="instead: the CPU seconds of each phase of this method's step",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed steps per variant")
    p.add_argument("--dir", default=str(HERE.parent / ".bench" / "ablate"), help="work folder")
    args = p.parse_args(argv)

    import online_step
    import torch

    torch.set_num_threads(1)
    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "prompts.json").exists():
        online_step.setup(workdir, _preset(workdir))
    if args.phases:
        phases(_trainer(workdir, args.phases), args.repeats)
        return 0
    for change in args.change or ["nash_md_pg_one_batch", "ipo_md_sampler_ref_logp"]:
        on, off = _variants(change, workdir)
        if change == "ipo_md_sampler_ref_logp":
            print(f"{change}: max |Δ log μ| on one rollout = {_ref_logp_gap(on):.2e}")
        times: dict[str, list[float]] = {"on": [], "off": []}
        lengths: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(args.repeats + 1):
            for name, trainer in (("on", on), ("off", off)):
                t0 = time.process_time()
                logs = trainer.step()
                if i:  # the first step of each is a warm-up
                    times[name].append(time.process_time() - t0)
                    lengths[name].append(logs["gen_len"])
        on_s, off_s = statistics.median(times["on"]), statistics.median(times["off"])
        print(
            f"{change}: on {on_s:.2f} s/step {[round(t, 2) for t in times['on']]}, "
            f"off {off_s:.2f} s/step {[round(t, 2) for t in times['off']]} (CPU seconds); "
            f"mean length of y on {statistics.mean(lengths['on']):.1f}, "
            f"off {statistics.mean(lengths['off']):.1f}; off / on = {off_s / on_s:.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
