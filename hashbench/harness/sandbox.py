"""Ranking-only attacks run in a process of their own, which never holds the attacked model.

A ranking-only attack (``access = "ranking"``) is promised the ranked ids a deployed system
returns and nothing else. In the process that provisions the model, any Python object is
reachable from any other (a closure, the garbage collector), so the promise is kept by a
process boundary instead: the attack is built, prepared and run in a spawned child that holds
its parameters, its seed and the query batch (``python -m hashbench.harness.sandbox``, a new
interpreter: nothing of this one, its ``__main__`` included, is copied or re-run there); its
oracle sends each query to this process,
which ranks it against the database (``RankingOracle``: every image sent is one query of its
row, a row past the budget is refused) and sends back the ids. The child gets no model, no
codes and no labels of the database; what it may read of the queries is what it declares among
``threat_model.RANKING_NEEDS``. What the child sends back is read as tensors and plain values
only (``torch.load(weights_only=True)``), never unpickled: plugin code cannot run here.
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from hashbench.api import AttackContext, QueryBatch, RankingOracle
from hashbench.errors import PluginError
from hashbench.harness.threat_model import access_violation


class RankingSandbox:
    """One attack of one cell in a child process; ``perturb`` answers its oracle's queries
    with ``oracle`` (the real one, in this process) until the child returns the batch."""

    def __init__(self, attack, seed: int, scope: str, topk: int | None, ties: str):
        why = access_violation(type(attack))
        if why:
            raise PluginError(f"attack '{attack.name}' {why}")
        self.name = attack.name
        child_reads, parent_writes = os.pipe()
        parent_reads, child_writes = os.pipe()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "hashbench.harness.sandbox", str(child_reads),
             str(child_writes)], pass_fds=(child_reads, child_writes), env=env,
            stdin=subprocess.DEVNULL)
        os.close(child_reads)
        os.close(child_writes)
        self._send = Connection(parent_writes, readable=False)
        self._recv = Connection(parent_reads, writable=False)
        self._call(("init", attack.name, dataclasses.asdict(attack.params), seed, scope, topk,
                    ties), None)

    def perturb(self, oracle: RankingOracle, x: torch.Tensor, batch: QueryBatch) -> torch.Tensor:
        """The attack's batch for ``x`` (on ``x``'s device), its queries ranked by ``oracle``
        on that device."""
        labels = None if batch.labels is None else batch.labels.cpu()
        targets = None if batch.target_labels is None else batch.target_labels.cpu()
        out = self._call(("perturb", x.detach().cpu(), batch.index.cpu(), labels, targets,
                          oracle.length, oracle.budget), oracle, x.device)
        if not isinstance(out, torch.Tensor):
            raise PluginError(f"attack '{self.name}' returned a {type(out).__name__}, not a "
                              "tensor of images")
        return out.to(x.device)

    def report(self):
        found = self._call(("report",), None)
        if found is None:
            return None
        from hashbench.api import AttackReport

        return AttackReport(found["metrics"], {k: v.numpy() if isinstance(v, torch.Tensor)
                                                else np.asarray(v) for k, v in found["arrays"].items()})

    def close(self) -> None:
        try:
            self._send.send_bytes(_dump(("stop",)))
        except (OSError, ValueError):
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._send.close()
        self._recv.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, message: tuple, oracle: RankingOracle | None,
              device: torch.device | None = None) -> Any:
        self._send.send_bytes(_dump(message))
        while True:
            try:
                kind, *rest = _load(self._recv.recv_bytes())
            except (EOFError, OSError) as err:
                raise PluginError(f"attack '{self.name}': its sandbox process died (exit "
                                  f"code {self._proc.poll()})") from err
            if kind == "rank" and oracle is not None:
                x, rows, depth = rest
                try:
                    self._send.send_bytes(_dump(("ids", oracle(x.to(device), rows, depth).cpu())))
                except PluginError as err:  # over budget, or rows that do not fit
                    self._send.send_bytes(_dump(("refused", str(err))))
            elif kind == "done":
                return rest[0]
            elif kind == "error":
                raise PluginError(f"attack '{self.name}': {rest[0]}")
            else:
                raise PluginError(f"attack '{self.name}': its sandbox sent {kind!r} unasked")


def _dump(message: tuple) -> bytes:
    buf = io.BytesIO()
    torch.save(message, buf)
    return buf.getvalue()


def _load(data: bytes) -> tuple:
    """A child's message: tensors and plain values only, or the sandbox is broken."""
    try:
        out = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - anything else is not a message of ours
        raise PluginError(f"a sandboxed attack sent something other than tensors and plain "
                          f"values ({type(err).__name__})") from err
    if not isinstance(out, tuple) or not out or not isinstance(out[0], str):
        raise PluginError("a sandboxed attack sent a malformed message")
    return out


class _Oracle:
    """The oracle as the child sees it: a pipe to the process that ranks."""

    def __init__(self, send: Connection, recv: Connection, length: int, budget: int):
        self._send, self._recv, self.length, self.budget = send, recv, length, budget

    def __call__(self, x: torch.Tensor, rows: torch.Tensor | None = None,
                 depth: int | None = None) -> torch.Tensor:
        self._send.send_bytes(_dump(("rank", x.detach().cpu().contiguous(),
                                     None if rows is None else rows.cpu(), depth)))
        kind, value = _load(self._recv.recv_bytes())
        if kind == "refused":
            raise PluginError(value)
        return value


def _plain_report(report) -> dict | None:
    """An attack's report as tensors and plain values (its arrays' strings as lists)."""
    if report is None:
        return None
    arrays = {k: torch.as_tensor(v) if np.asarray(v).dtype.kind in "biuf" else
              [str(e) for e in np.asarray(v).tolist()] for k, v in report.arrays.items()}
    return {"metrics": report.metrics, "arrays": arrays}


def _child(recv: Connection, send: Connection) -> None:  # pragma: no cover - the sandbox
    from hashbench.registry import attacks

    attack: Any = None
    ctx: Any = None
    state: Any = None
    while True:
        message = _load(recv.recv_bytes())
        kind = message[0]
        try:
            if kind == "stop":
                return
            if kind == "init":
                _, name, params, seed, scope, topk, ties = message
                attack = attacks.create(name, **params)
                ctx = AttackContext.for_attack(attack, seed, scope, topk,
                                               make_attack=attacks.create, ties=ties)
                state = attack.prepare(None, ctx)
                send.send_bytes(_dump(("done", None)))
            elif kind == "perturb":
                _, x, index, labels, targets, length, budget = message
                batch = QueryBatch(index=index, labels=labels, target_labels=targets)
                out = attack.perturb(_Oracle(send, recv, length, budget), x, batch, state, ctx)
                send.send_bytes(_dump(("done", out.detach().cpu() if isinstance(
                    out, torch.Tensor) else None)))
            elif kind == "report":
                send.send_bytes(_dump(("done", _plain_report(attack.report(state)))))
        except Exception as err:  # noqa: BLE001 - the plugin's failure, sent as one line
            where = traceback.extract_tb(err.__traceback__)[-1]
            send.send_bytes(_dump(("error", f"{type(err).__name__}: {err} "
                                            f"({where.filename}:{where.lineno})")))


if __name__ == "__main__":  # pragma: no cover - the sandbox process
    from hashbench import cpu_kernels

    cpu_kernels.pin()  # the protocol's kernels, before torch computes anything
    torch.set_num_threads(1)
    _child(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]),
                                                                     readable=False))
