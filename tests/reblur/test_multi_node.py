"""Two "nodes" of one process each on localhost (torchrun, gloo): ``--trainer.num_nodes 2`` trains one model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import torch

from tests.helpers import REBLUR_TINY as TINY
from tests.helpers import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_through_torchrun_end_with_identical_weights(tmp_path):
    out = tmp_path / "weights"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK"):
        env.pop(name, None)
    nodes = []
    for node_rank in (0, 1):
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1"]
        command += ["--node_rank", str(node_rank), "--master_addr", "127.0.0.1", "--master_port", str(port)]
        command += ["-m", "reblur.cli", "fit", "--config", TINY, "--trainer.num_nodes", "2", "--trainer.devices", "1"]
        command += ["--trainer.max_epochs", "2", "--trainer.default_root_dir", str(tmp_path / "run")]
        command += ["--trainer.callbacks+=tests.reblur.rank_weights.SaveRankWeights"]
        command += [f"--trainer.callbacks.folder={out}"]
        nodes.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [node.communicate(timeout=600)[0].decode(errors="replace") for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert (
        "ddp_find_unused_parameters_true"
        in (tmp_path / "run" / "lightning_logs" / "version_0" / "config.yaml").read_text()
    )

    end = [torch.load(out / f"rank{r}_end.pt") for r in (0, 1)]
    # Each node saw its own half of the data (4 pairs, batch 2: one batch per node and epoch)...
    assert set(end[0]["seen"][:2]).isdisjoint(end[1]["seen"][:2])
    start = [torch.load(out / f"rank{r}_start.pt") for r in (0, 1)]
    for key, value in end[0]["state"].items():
        # ...and the gradients were averaged across nodes: identical weights that moved from the start.
        assert torch.equal(value, end[1]["state"][key]), key
        assert not torch.equal(value, start[0]["state"][key]), key
