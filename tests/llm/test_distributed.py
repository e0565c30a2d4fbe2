"""Two CPU processes (gloo, started by ``torchrun --nproc_per_node 2``) run online IPO, IPO-MD
and INPO (a policy snapshot) under DDP and under FSDP (accelerate's FSDP2 plugin): both ranks
really run, stay identical, and equal one process on the same global batch.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import ddp_worker as W  # tests/llm/ddp_worker.py (pytest puts tests/llm on sys.path)
import pytest
import torch

# slow tier: two-rank training in subprocesses (make test-fast leaves it out)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["ddp", "fsdp"])
def two_ranks(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU ranks (gloo) also on a GPU machine
    env["ACCELERATE_USE_FSDP"] = "true" if request.param == "fsdp" else "false"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            str(REPO / "tests" / "llm" / "ddp_worker.py"),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    want = "DistributedType.FSDP" if request.param == "fsdp" else "DistributedType.MULTI_CPU"
    for r in ranks:
        assert all(r[m]["distributed_type"] == want for m in W.METHODS)
        share = [r[m]["local_share"] for m in W.METHODS]
        # FSDP: each rank holds half of every sharded weight (a row more where odd); DDP: all
        assert all((0.45 < x < 0.55) if request.param == "fsdp" else x == 1.0 for x in share)
    return ranks


@pytest.mark.parametrize("method", list(W.METHODS))
def test_two_ranks_run_and_stay_identical(two_ranks, method):
    r0, r1 = two_ranks[0][method], two_ranks[1][method]
    assert two_ranks[0]["world"] == 2
    assert (r0["num_processes"], r0["rank"], r1["num_processes"], r1["rank"]) == (2, 0, 2, 1)
    # the ranks saw different prompts (sharded) and sampled independently ...
    for a, b in zip(r0["rollouts"], r1["rollouts"]):
        assert set(a.prompts).isdisjoint(b.prompts)
    # ... yet take the very same steps
    assert len(r0["weights"]) == len(r1["weights"]) == 3
    for w0, w1 in zip(r0["weights"], r1["weights"]):
        assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert r0["resumed"] and r1["resumed"]  # save_state / load_state with two processes
    if method == "inpo":  # the snapshot is π after step 2 (refreshed before step 3), whole
        for r in (r0, r1):
            assert all(torch.equal(r["snapshot"][k], v) for k, v in r["weights"][1].items())


@pytest.mark.parametrize("method", list(W.METHODS))
def test_two_ranks_equal_one_process_on_the_same_global_batch(two_ranks, tmp_path, method):
    """Replaying both ranks' rollouts (the global batch of 4 prompts) in one process, from the
    ranks' weights before each step, gives the gradient that DDP handed to the optimiser."""
    from prefgame.llm import CallableJudge, OnlineTrainer, Policy, SequenceBatch, tiny_gpt2
    from prefgame.llm.trainer import Rollout

    r0, r1 = two_ranks[0][method], two_ranks[1][method]
    tok = W.tokenizer()
    policy = Policy(tiny_gpt2(tok), tok)
    tr = OnlineTrainer(
        W.config(method, str(tmp_path), 4, 2), policy, CallableJudge(W.judge_fn), W.PROMPTS
    )
    params = [q for q in policy.model.parameters() if q.requires_grad]
    grads = []
    tr.optimizer.optimizer.register_step_pre_hook(
        lambda opt, a, k: grads.append([q.grad.detach().clone() for q in params])
    )
    pad = tok.pad_token_id
    for step, (a, b) in enumerate(zip(r0["rollouts"], r1["rollouts"])):
        if step:
            policy.model.load_state_dict(r0["weights"][step - 1])
        y2 = SequenceBatch.cat([a.y2, b.y2], pad)
        both = Rollout(
            a.prompts + b.prompts,
            SequenceBatch.cat([a.y, b.y], pad),
            y2,
            torch.cat([a.p, b.p]),
            None,
            a.tau,
            a.beta,
        )
        tr.train_on(both)
        # rounding only (one process shares the prompt encoding, DDP does not); a gradient
        # not averaged over the ranks, or from one rank's half of the batch, is off by O(1)
        for g, g_ddp in zip(grads[step], r0["grads"][step]):
            torch.testing.assert_close(g, g_ddp, atol=1e-5, rtol=1e-3)
        state = policy.model.state_dict()
        # Adam divides by sqrt(v): a weight whose exact gradient is 0 (e.g. GPT-2's key bias)
        # moves by up to ~lr on rounding noise, so weights agree only to a fraction of lr = 1e-2
        for k, v in r0["weights"][step].items():
            torch.testing.assert_close(state[k], v, atol=2e-3, rtol=0)
