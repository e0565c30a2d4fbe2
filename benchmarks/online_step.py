"""Seconds per online step: prefgame against TRL, on the same tiny GPT-2 and reward model (CPU).

    make bench-envs                                     # the pinned TRL venvs in .bench/
    python benchmarks/online_step.py --preset long      # generation-dominated: 25M policy, 64-token prompts, 128 new tokens, batch 8.  fp32 for
    # everyone: a CPU without AVX512-BF16/AMX runs bf16 matmuls far slower than fp32 (measured
    # 0.5 against 47 GFLOP/s on the AVX2 machine of benchmarks/RESULTS.md).
    "long": {
        "model_size": "25m",
        "prompt_len": 64,
        "new_tokens": 128,
        "batch": 8,
        "precision": "fp32",
        "rounds": 2,
        "steps": 2,
        "warmup": 1,
    },
}


def _fmt(xs) -> str:
    return "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--dir", default="", help=argparse.SUPPRESS)
    p.add_argument("--method", default="online_ipo", help=argparse.SUPPRESS)
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="",
        help="long: the generation-dominated setting (25M policy, 64-token prompts, 128 new "
        "tokens, batch 8, fp32); explicit options still override it",
    )
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    p.add_argument("--steps", type=int, default=4, help="timed steps per worker and round")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument(
        "--trl112-steps", type=int, default=0, help="timed steps of TRL 1.12 (0: --steps)"
    )
    p.add_argument("--trl112-warmup", type=int, default=0, help="its warm-up steps")
    p.add_argument("--batch", type=int, default=8, help="prompts per step")
    p.add_argument("--new-tokens", type=int, default=32, help="max new tokens")
    p.add_argument("--prompt-len", type=int, default=32, help="prompt length in tokens")
    p.add_argument("--vocab", type=int, default=256, help="vocabulary size")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads in every worker (1: the 2 shared cores thrash with 2)",
    )
    p.add_argument("--tau", type=float, default=0.1, help="τ (TRL's beta)")
    p.add_argument(
        "--trl-python",
        default=str(REPO / ".bench" / "trl116" / "bin" / "python"),
        help="python of the TRL 1.16 venv (default: .bench/trl116, made by make bench-envs)",
    )
    p.add_argument(
        "--trl112-python",
        default=str(REPO / ".bench" / "trl112" / "bin" / "python"),
        help="python of the TRL 1.12 venv (default: .bench/trl112)",
    )
    p.add_argument("--no-trl", action="store_true", help="skip the TRL online DPO comparison")
    p.add_argument(
        "--precision",
        choices=("bf16", "fp32"),
        default="bf16",
        help="bf16 autocast (TRL's default; fast on CPUs with AVX512-BF16/AMX) or "
        "fp32, for every contestant",
    )
    p.add_argument(
        "--trl-defaults",
        action="store_true",
        help="run TRL exactly with its defaults (bf16 autocast and gradient "
        "checkpointing); default: --precision, no checkpointing, like prefgame",
    )
    p.add_argument("--no-trl112", action="store_true", help="skip the TRL 1.12 Nash-MD runs")
    p.add_argument("--device", default="cpu", help="cpu or cuda (prefgame workers)")
    p.add_argument(
        "--model-size",
        choices=sorted(MODEL_SIZES),
        default="3m",
        help="3m: the CPU comparison; 25m: the generation-dominated one (--preset long); "
        "100m: ~100M parameters (GPU: tokens/s, memory; TRL runs are skipped)",
    )
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: each worker's own CPU seconds (robust on a machine shared with other jobs; "
        "every worker runs --threads threads); wall: elapsed seconds",
    )
    p.add_argument("--out", default="", help="write all measurements to this JSON file")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    if args.preset:
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        for k, v in PRESETS[args.preset].items():
            if k not in given:
                setattr(args, k, v)

    if args.model_size == "100m" or args.device != "cpu":
        args.no_trl = args.no_trl112 = True  # the TRL comparison is the CPU one
    if args.device != "cpu":
        args.clock = "wall"  # a GPU's work is not this process's CPU time
    CLOCK["fn"] = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.worker:
        result = WORKERS[args.worker](args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    for flag, path in (("trl", args.trl_python), ("trl112", args.trl112_python)):
        if not getattr(args, f"no_{flag}") and not Path(path).is_file():
            print(
                f"online_step.py: --{flag}-python {path}: no such interpreter "
                "(run `make bench-envs`, or pass --no-" + flag + ")",
                file=sys.stderr,
            )
            return 2

    with tempfile.TemporaryDirectory(prefix="online_step_") as tmp:
        args.dir = tmp
        info = setup(Path(tmp), args)
        print(
            f"setting: policy {info['policy_params'] / 1e6:.2f}M params, vocab {info['vocab']}, "
            f"RM {info['rm_params'] / 1e6:.2f}M, batch {args.batch}, prompt {args.prompt_len} "
            f"tokens, <= {args.new_tokens} new tokens, {args.threads} threads, "
            f"{args.precision}{', TRL defaults' if args.trl_defaults else ''}, "
            f"device {args.device}",
            flush=True,
        )
        plan = [("prefgame online_ipo", sys.executable, "prefgame", "online_ipo")]
        if not args.no_trl:
            plan.append(("TRL online DPO (ipo)", args.trl_python, "trl_online_dpo", ""))
        plan += [
            ("prefgame ipo_md", sys.executable, "prefgame", "ipo_md"),
            ("prefgame nash_md_pg", sys.executable, "prefgame", "nash_md_pg"),
        ]
        if not args.no_trl112:
            plan.append(("TRL 1.12 NashMD", args.trl112_python, "trl_nash_md", ""))
        plan.append(("mixture sampler", sys.executable, "mixture", ""))
        plan.append(("FLOP floor", sys.executable, "flops", ""))
        results: dict[str, list[dict]] = {name: [] for name, *_ in plan}
        for r in range(args.rounds):
            for name, python, worker, method in plan:
                res = _run_worker(python, worker, args, method)
                results[name].append(res)
                if worker == "flops":
                    val = res["online_ipo"]["floor_seconds"]
                else:
                    val = res.get("seconds_per_step", res.get("ratio"))
                print(f"round {r + 1}/{args.rounds}  {name:24s} {val:.4f}", flush=True)

    def med(name, key="seconds_per_step"):
        return _median(x[key] for x in results[name])

    def per_round(num: str, den: str, key: str = "seconds_per_step") -> list[float]:
        return [a[key] / b[key] for a, b in zip(results[num], results[den])]

    summary = {
        "setting": {
            **info,
            **{
                k: getattr(args, k)
                for k in (
                    "preset",
                    "model_size",
                    "batch",
                    "new_tokens",
                    "prompt_len",
                    "threads",
                    "rounds",
                    "steps",
                    "warmup",
                    "trl112_steps",
                    "trl112_warmup",
                    "tau",
                    "precision",
                    "trl_defaults",
                    "device",
                    "clock",
                )
            },
        },
        "raw": results,
    }
    print(f"\nmedian seconds per step ({args.clock} clock):")
    for name, runs in results.items():
        if name in ("mixture sampler", "FLOP floor"):
            continue
        summary[name] = med(name)
        extra = ""
        if "sampling_tokens_per_s" in runs[0]:
            summary[f"{name} sampling tokens/s"] = med(name, "sampling_tokens_per_s")
            extra = f"   sampling {summary[f'{name} sampling tokens/s']:.0f} tokens/s"
        if "peak_memory_gib" in runs[0]:
            summary[f"{name} peak GiB"] = max(x["peak_memory_gib"] for x in runs)
            extra += f", peak {summary[f'{name} peak GiB']:.2f} GiB"
        print(f"  {name:24s} {summary[name]:.4f}{extra}")
    mix = med("mixture sampler", "ratio")
    summary["mixture_over_plain"] = mix
    print(f"  mixture sampler / plain sampling per decoding step: {mix:.2f}x (target <= 2.2)")

    print("\nFLOP floor (model FLOPs / matmul rate at the same shapes and precision):")
    for method in ("online_ipo", "ipo_md", "nash_md_pg"):
        floors = [x[method]["floor_seconds"] for x in results["FLOP floor"]]
        fracs = [f / s["seconds_per_step"] for f, s in zip(floors, results[f"prefgame {method}"])]
        last = results["FLOP floor"][-1][method]
        phases = ", ".join(
            f"{k} {v['flops'] / 1e9:.0f} GFLOP @ {v['rate'] / 1e9:.0f} GFLOP/s"
            for k, v in last.items()
            if isinstance(v, dict)
        )
        summary[f"floor_seconds {method}"] = _median(floors)
        summary[f"fraction_of_floor {method}"] = _median(fracs)
        print(
            f"  {method:11s} {last['flops'] / 1e9:.0f} GFLOP, floor {_median(floors):.3f} s, "
            f"prefgame at {100 * _median(fracs):.0f}% of it (goal >= 60%)\n    {phases}"
        )

    speed = speed_md = float("nan")
    if "TRL online DPO (ipo)" in results:
        rounds = per_round("TRL online DPO (ipo)", "prefgame online_ipo")
        walls = per_round("TRL online DPO (ipo)", "prefgame online_ipo", "wall_seconds_per_step")
        speed = _median(rounds)
        summary["speedup_vs_trl per round"] = rounds
        summary["speedup_vs_trl per round, wall clock"] = walls
        print(f"\n  online IPO vs TRL online DPO (ipo), per round: {_fmt(rounds)}")
        print(f"    the same in wall-clock seconds: {_fmt(walls)}")
    if "TRL 1.12 NashMD" in results:
        worst = []
        for method in ("nash_md_pg", "ipo_md"):
            rounds = per_round("TRL 1.12 NashMD", f"prefgame {method}")
            walls = per_round("TRL 1.12 NashMD", f"prefgame {method}", "wall_seconds_per_step")
            summary[f"speedup_{method}_vs_trl_nash_md per round"] = rounds
            summary[f"speedup_{method}_vs_trl_nash_md per round, wall clock"] = walls
            print(f"  {method} vs TRL 1.12 Nash-MD, per round: {_fmt(rounds)}")
            print(f"    the same in wall-clock seconds: {_fmt(walls)}")
            worst.append(_median(rounds))
        speed_md = min(worst)
        r0 = results["TRL 1.12 NashMD"][0]
        steps = args.trl112_steps or args.steps
        warm = args.trl112_warmup if args.trl112_steps else args.warmup
        per_step = r0["ref_tokens_fed"] / max(1, steps + warm)
        print(
            f"  TRL {r0['trl_version']} (transformers {r0['transformers_version']}): its "
            f"reference read {per_step:.0f} tokens per step in {r0['ref_calls']} calls"
            + (
                "  -- FEWER than the prompt per call: its mixture saw no context"
                if r0["ref_calls"] and per_step * (steps + warm) / r0["ref_calls"] < args.prompt_len
                else ""
            )
        )
    summary["speedup_vs_trl"], summary["speedup_vs_trl_nash_md"] = speed, speed_md
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    print(f"speedup_vs_trl={speed:.2f} speedup_vs_trl_nash_md={speed_md:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
