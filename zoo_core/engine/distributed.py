"""Several processes training one run: torchrun's environment, the process group,
DistributedDataParallel, the collectives the engine needs, and the rank-0 rule.

``zoo run RECIPE --nproc N`` starts N copies of ``python -m zoo_core run
RECIPE`` through ``torch.distributed.run`` (torchrun); several machines use
torchrun directly with its rendezvous flags (docs/distributed.md). Each copy
finds ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in its environment and
:func:`session` joins the process group: NCCL on CUDA (one GPU per process,
``cuda:LOCAL_RANK``), gloo on CPU.

What is distributed, and how:

* **Data.** Every loader the engine builds gets this process's shard of the
  epoch's seeded permutation (:class:`zoo_core.data.loaders.EpochSampler`);
  ``train.batch_size`` is per process, so the global batch is ``N`` times it.
* **Gradients.** Each trained role is wrapped in DDP for the task's step
  (``ctx.models[role]`` is the wrapper inside ``train_step`` and the plain
  module everywhere else). With one trained role DDP's own reducer averages
  the gradients during ``backward`` (overlapped with it), and ``no_sync`` is
  used between gradient-accumulation boundaries. With several trained roles
  (a GAN) the reducer cannot be used: a role's forward arms it, but the
  discriminator's forward in the generator's step is followed by a
  ``backward(inputs=generator params)`` that never produces its gradients,
  so its reducer would wait for them forever. There the wrappers stay in
  ``no_sync`` mode and ``ctx.step(role)`` averages exactly that role's
  gradients across processes (one flat all-reduce) right before its
  optimizer steps; each role's gradients stay its own, as in one process.
  The same explicit average is the fallback whenever a step did not go
  through the wrapper (a task that runs a view of the model, such as a
  frozen backbone plus head).
* **Metrics.** Each process measures its shard; :func:`reduce_meter` makes
  every meter hold all of them (``Meter.reduce``: by default the sums and
  counts of ``state_dict()`` added up across processes), so every process
  computes the same numbers and makes the same decisions (best epoch, early
  stopping, plateau schedules).
* **Stops.** Ctrl-C and non-finite losses are agreed on with one small
  all-reduce at fixed steps (every step on CPU), so every process stops after
  the same step; rank 0 saves the checkpoint.
* **Files.** Only rank 0 writes files and prints; checkpoints and saved models
  hold the plain modules' state dicts, so a run trained with N processes
  resumes or loads in one, and the reverse.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import threading
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from zoo_core.errors import ZooError

#: set to 1 when a one-model task has parameters that get no gradient in some steps
FIND_UNUSED_ENV = "ZOO_DDP_FIND_UNUSED"


# --- where this process stands --------------------------------------------------------


def launched() -> bool:
    """True in a process torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_env() -> bool:
    """Rank 0 by torchrun's environment (before the process group is up)."""
    return int(os.environ.get("RANK", "0")) == 0


def active() -> bool:
    """True while a process group of more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0: the process that writes files and prints."""
    return rank() == 0


def shard() -> tuple[int, int] | None:
    """(rank, world size) for a loader's sampler, None in a single process."""
    return (rank(), world_size()) if active() else None


def describe() -> str:
    """``" x 2 processes (DDP, gloo)"`` or ``""``: for the run log and report."""
    if not active():
        return ""
    return f" x {world_size()} processes (DDP, {dist.get_backend()})"


@contextlib.contextmanager
def session(device: str | None) -> Iterator[str | None]:
    """Join torchrun's process group for the duration of a command (nothing in a single
    process, or when a group is already up); yields the device this process trains on.
    """
    if not launched() or active():
        yield device
        return
    from zoo_core.engine.devices import resolve_device

    resolved = resolve_device(device or "auto")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if resolved.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ZooError(f"Process {local} on this machine has no GPU of its own: "
                           f"{torch.cuda.device_count()} CUDA device(s) for "
                           f"{os.environ.get('LOCAL_WORLD_SIZE', '?')} processes. Start at "
                           "most one process per GPU (--nproc).")
        resolved = torch.device("cuda", local)
        torch.cuda.set_device(resolved)
        backend = "nccl"
    elif resolved.type == "cpu":
        backend = "gloo"
    else:
        raise ZooError(f"Training on several processes needs CUDA (NCCL) or the CPU (gloo); "
                       f"device {resolved.type!r} is not supported. Use --device cpu.")
    dist.init_process_group(backend)
    try:
        yield str(resolved)
    except BaseException as exc:
        # the frames of a failed step can hold a DDP wrapper; their locals are not needed
        # to report the error, and the wrapper must go before the group (see _teardown)
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        _teardown()


#: every live set of DDP wrappers, so the session can drop them before it leaves
_LIVE: weakref.WeakSet[Replicas] = weakref.WeakSet()


def _teardown() -> None:
    """Drop every DDP wrapper, then leave the process group. A wrapper still alive when
    the interpreter shuts down takes the gloo process down with ``terminate called
    without an active exception`` (SIGABRT, exit 134): in a third of the runs of a
    two-process script on torch 2.14. Freed before that, it never did in 60 runs."""
    for replicas in list(_LIVE):
        replicas.close()
    gc.collect()
    dist.destroy_process_group()


# --- collectives ---------------------------------------------------------------------------


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def any_rank(*flags: Any) -> list[bool]:
    """Each flag (a bool or a one-element tensor) True on at least one process."""
    if not active():
        return [bool(f) for f in flags]
    values = torch.tensor([float(bool(f)) for f in flags], device=_comm_device())
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [bool(v) for v in values.tolist()]


def all_sum(value: float) -> float:
    """``value`` added up over every process."""
    if not active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return float(t.item())


def gather(obj: Any) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order, on every process."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def on_main(fn: Callable[[], Any]) -> Any:
    """``fn()`` on rank 0 (creating the run folder...), its result on every process. A
    :class:`ZooError` it raises is raised on every process, so none of them waits for a
    result that will not come."""
    if not active():
        return fn()
    if is_main():
        try:
            value = fn()
        except ZooError as exc:
            broadcast_object(("error", str(exc)))
            raise
        broadcast_object(("ok", value))
        return value
    kind, value = broadcast_object(None)
    if kind == "error":
        raise ZooError(value)
    return value


def broadcast_modules(modules: Iterable[nn.Module], *, buffers_only: bool = False) -> None:
    """Rank 0's parameters and buffers (or buffers only) into every process's modules."""
    if not active():
        return
    for module in modules:
        tensors = list(module.buffers()) if buffers_only else \
            [*module.parameters(), *module.buffers()]
        for t in tensors:
            dist.broadcast(t.data, src=0)


def sum_states(states: list[Any]) -> Any:
    """Add up meter states leaf by leaf: tensors and numbers are summed, tables merged
    (a key some processes lack counts as absent there), None is absent."""
    present = [s for s in states if s is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for s in present for k in s))
        return {k: sum_states([s.get(k) for s in present]) for k in keys}
    if isinstance(first, (list, tuple)):
        return type(first)(sum_states(list(items)) for items in zip(*present, strict=True))
    if isinstance(first, bool) or not isinstance(first, (int, float, torch.Tensor)):
        return first  # not a count or a sum: rank 0's
    total = first
    for s in present[1:]:
        total = total + s
    return total


def reduce_meter(meter: Any) -> Any:
    """Make ``meter`` hold every process's measurements (see ``Meter.reduce``)."""
    if active():
        meter.reduce(gather)
    return meter


def average_gradients(params: list[nn.Parameter]) -> None:
    """Average the gradients of ``params`` (the same list on every process) over the
    processes; a parameter without a gradient on some process counts as zero there,
    and keeps ``grad = None`` only when no process has one."""
    if not active() or not params:
        return
    world = world_size()
    groups: dict[torch.dtype, list[nn.Parameter]] = {}
    for p in params:
        groups.setdefault(p.dtype, []).append(p)
    for group in groups.values():
        has = torch.tensor([float(p.grad is not None) for p in group], dtype=group[0].dtype,
                           device=group[0].device)
        flat = torch.cat([has, *((p.grad if p.grad is not None else torch.zeros_like(p))
                                 .reshape(-1) for p in group)])
        dist.all_reduce(flat)
        offset = len(group)
        for i, p in enumerate(group):
            n = p.numel()
            if flat[i] > 0:
                avg = flat[offset:offset + n].view_as(p) / world
                if p.grad is None:
                    p.grad = avg.clone()
                else:
                    p.grad.copy_(avg)
            offset += n


# --- DDP around the trained roles ----------------------------------------------------------


def _ddp_class() -> type:
    from torch.nn.parallel import DistributedDataParallel

    class CountingDDP(DistributedDataParallel):
        """DDP that counts the forwards that armed its reducer, so ``sync`` knows
        whether DDP averaged the gradients of this step or it must."""

        synced_forwards = 0

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            if torch.is_grad_enabled() and self.require_backward_grad_sync:
                self.synced_forwards += 1
            return super().forward(*args, **kwargs)

    return CountingDDP


class Replicas:
    """The DDP wrappers of one phase's trained roles (see the module doc)."""

    def __init__(self, models: dict[str, nn.Module], roles: list[str], device: torch.device,
                 compile: bool = False):
        self.plain = models
        self.device = device
        self.compile = compile
        self.roles = [r for r in roles if self._trainable(models[r])]
        #: several trained roles: gradients are averaged by sync(), never by DDP's reducer
        self.manual = len(self.roles) > 1
        self.wrappers: dict[str, Any] = {}
        self.step_models: dict[str, nn.Module] = {}
        self._signature: dict[str, tuple[int, ...]] = {}
        for role in self.roles:
            self._wrap(role)
        _LIVE.add(self)

    def close(self) -> None:
        """Let go of the wrappers (the plain modules stay): see ``_teardown``."""
        self.wrappers.clear()
        self.step_models.clear()

    @staticmethod
    def _trainable(model: nn.Module) -> tuple[int, ...]:
        return tuple(i for i, p in enumerate(model.parameters()) if p.requires_grad)

    def _wrap(self, role: str) -> None:
        model = self.plain[role]
        ids = [self.device.index] if self.device.type == "cuda" else None
        ddp = _ddp_class()(model, device_ids=ids,
                           find_unused_parameters=os.environ.get(FIND_UNUSED_ENV) == "1")
        if self.manual:
            ddp.require_backward_grad_sync = False  # what no_sync() sets, for good
        self.wrappers[role] = ddp
        self.step_models[role] = torch.compile(ddp) if self.compile else ddp  # type: ignore
        self._signature[role] = self._trainable(model)

    def refresh(self) -> None:
        """Wrap again a role whose trainable parameters changed (a stage unfrozen at
        an epoch start): DDP registers its gradient hooks once, when it is built."""
        for role in self.roles:
            if self._trainable(self.plain[role]) != self._signature[role]:
                self._wrap(role)

    @contextlib.contextmanager
    def stepping(self, ctx: Any) -> Iterator[None]:
        """``ctx.models`` holds the wrappers during the task's step; DDP's reducer
        averages only at an accumulation boundary (``no_sync`` between)."""
        saved = ctx.models
        ctx.models = {**saved, **self.step_models}
        if not self.manual:
            for ddp in self.wrappers.values():
                ddp.require_backward_grad_sync = bool(ctx.boundary)
        try:
            yield
        finally:
            ctx.models = saved

    def sync(self, role: str, params: list[nn.Parameter]) -> None:
        """Before ``role``'s optimizer steps: average its gradients unless DDP did."""
        ddp = self.wrappers.get(role)
        if ddp is None:
            return
        armed, ddp.synced_forwards = ddp.synced_forwards, 0
        if self.manual or not armed:
            average_gradients(params)


def replicate(models: dict[str, nn.Module], roles: list[str], device: torch.device, *,
              compile: bool = False) -> Replicas | None:
    """DDP wrappers for ``roles`` of ``models`` when several processes train, else None."""
    if not active():
        return None
    return Replicas(models, roles, device, compile=compile)


def stepping(ctx: Any) -> contextlib.AbstractContextManager[Any]:
    """The wrappers in ``ctx.models`` for one task step (nothing in one process)."""
    replicas = getattr(ctx, "replicas", None)
    return replicas.stepping(ctx) if replicas is not None else contextlib.nullcontext()


# --- launching -------------------------------------------------------------------------------


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m zoo_core ARGV`` as ``nproc`` processes on this machine through
    torchrun (standalone rendezvous on a free port); returns the exit code to use
    (the first failed process's, 130 after Ctrl-C)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # torchrun would set 1 thread and warn; share the cores out as `zoo sweep --jobs` does
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    args = parse_args(["--standalone", "--nnodes", "1", "--nproc-per-node", str(nproc),
                       "--module", "zoo_core", *argv])
    # rank 0 prints what went wrong; the launcher's own log lines would only repeat it
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith("torch.distributed")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.CRITICAL)
    # torchrun installs its own handlers (it forwards Ctrl-C to the workers once): put ours
    # back afterwards
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    handlers = {sig: signal.getsignal(sig) for sig in
                (getattr(signal, n) for n in names if hasattr(signal, n))}
    try:
        run(args)
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        code = int(failure.exitcode)
        return code if code > 0 else 128 - code  # killed by signal s: 128 + s, as a shell
    except SignalException:
        return 130
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    return 0
