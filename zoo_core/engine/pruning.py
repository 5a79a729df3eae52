"""``[prune]``: magnitude pruning of one role's model while it trains.

Whatever the task, the trainer drives it at three points:

* :func:`attach` when the trainer is built: a :class:`Pruning` for the role
  (the task's main role unless ``prune.role`` says otherwise), or None without
  a ``[prune]`` table;
* :meth:`Pruning.epoch_start` at the start of every epoch, once the phase's
  optimizers are set up and before the epoch is seeded: inside
  ``start_epoch .. end_epoch`` it prunes the chosen layers to the sparsity the
  schedule gives (:func:`~zoo_core.export.prune.sparsity_schedule`, counted
  over those layers); the epochs after ``end_epoch`` fine-tune;
* :meth:`Pruning.finish` before the final weights are chosen: the masks
  become permanent (plain ``weight`` tensors, no forward pre-hooks).

The rest follows from torch's own form of a pruned layer (``weight_orig`` and
``weight_mask``), kept as it is in memory and in training checkpoints:

* Resume after kill -9: a load-state-dict pre-hook on the model turns a
  freshly built layer into that form when the checkpoint holds it, so the
  masks come back with the weights; the pruning keeps the parameter order
  (:mod:`zoo_core.export.prune`), so the optimizer state loads back too. Its
  own record (metrics before pruning, steps) is kept in the checkpoint as the
  last of the run's hooks (:class:`~zoo_core.engine.hooks.HookSet`), which
  also lets it add ``prune/target`` and ``prune/sparsity`` to each epoch's
  metrics.
* Saved models: :func:`zoo_core.weights.save_model` writes the effective
  weights (``weight_orig * weight_mask``) under the plain names, so
  ``models/<role>/`` never holds masks.
* The best epoch: each pruning step that masks more weights starts the
  best-model and early-stopping monitors over, so the final weights are the
  best epoch's *at the final sparsity*, not an earlier, denser one.

``before``: the task's metrics on the final evaluation split just before the
first pruning step; ``pruned``: just after the last one (before fine-tuning).
Both, the sparsity per layer and overall, go into the final record of
``metrics.jsonl`` (:meth:`Pruning.final_record`) and a section of
``report.md`` (:meth:`Pruning.report_lines`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from zoo_core.errors import ZooError

_EMPTY_MONITOR = {"best": None, "best_epoch": None}


def attach(trainer: Any) -> Pruning | None:
    """The pruning a trainer's recipe asks for (None: no ``[prune]``), registered
    with the run's hooks so its state is checkpointed."""
    pipe = trainer.pipe
    section = getattr(pipe.recipe, "prune", None)
    if section is None:
        return None
    from zoo_core.engine import distributed
    from zoo_core.engine.run import final_split
    from zoo_core.recipe.checks import prune_problems

    if distributed.active():
        # DDP registers a model's parameters once; pruning replaces them with
        # weight_orig + mask mid-run, which its reducer would not see
        raise ZooError("[prune] trains in one process: run the recipe without --nproc.")

    problems = prune_problems(pipe.recipe, pipe.task)
    if problems:
        raise ZooError("The recipe's [prune] table cannot be used: "
                       + " ".join(str(p) for p in problems))
    role = section.role or pipe.task.main_role
    if role not in pipe.specs:
        raise ZooError(f"prune.role = {role!r}, but this run has no model in that role "
                       f"(its models: {', '.join(pipe.specs)}). Name one of them.")
    split = final_split(pipe.recipe, pipe.loaders)
    pruning = Pruning(section, pipe.specs[role].model, role, trainer.total_epochs,
                      evaluate=lambda: dict(trainer.evaluate(split).compute()), split=split,
                      log=trainer.progress.log, restart_monitors=lambda: _restart(trainer))
    pipe.hooks.items.append(pruning)
    return pruning


def _restart(trainer: Any) -> None:
    """Forget the best epoch so far: it was measured on a denser model."""
    trainer.best.load_state_dict(dict(_EMPTY_MONITOR))
    if trainer.early is not None:
        trainer.early.load_state_dict({"monitor": dict(_EMPTY_MONITOR), "bad_epochs": 0,
                                       "stopped_epoch": None})


class Pruning:
    """One role's pruning schedule; see the module docstring for when it acts."""

    modifies_inputs = False  # as a run hook it touches the model only

    def __init__(self, section: Any, model: nn.Module, role: str, epochs: int, *,
                 evaluate: Callable[[], dict[str, float]], split: str,
                 log: Callable[[str], None] = print,
                 restart_monitors: Callable[[], None] = lambda: None):
        from zoo_core.export.prune import select_layers, sparsity_schedule

        self.section = section
        self.model = model
        self.role = role
        self.split = split
        self.evaluate = evaluate
        self.log = log
        self.restart_monitors = restart_monitors
        self.layers = select_layers(model, section.modules, exclude=section.exclude,
                                    keep_last=section.keep_last)
        where = f"[prune] on role {role!r} ({type(model).__name__})"
        if not self.layers:
            raise ZooError(f"{where}: no layer to prune: the model has no module of the types "
                           f"{', '.join(section.modules)} outside prune.exclude (keep_last "
                           f"leaves the last one whole). Name other types in prune.modules.")
        if section.method == "ln_structured":
            flat = [n for n, m in self.layers if section.dim >= m.weight.ndim]
            if flat:
                raise ZooError(f"{where}: prune.dim = {section.dim}, but the weights of "
                               f"{', '.join(flat[:3])} have fewer axes; use dim = 0 (output "
                               "channels of a convolution or a linear layer).")
        self.first, self.last = section.start_epoch - 1, section.end_epoch - 1  # 0-based
        self.targets = sparsity_schedule(section.amount, epochs, start=self.first,
                                         end=self.last, kind=section.schedule)
        self.before: dict[str, float] | None = None
        self.pruned: dict[str, float] | None = None
        self.steps: list[dict[str, Any]] = []
        self._warned_frozen = False
        model.register_load_state_dict_pre_hook(self._pruned_form)

    # -- the trainer's calls --------------------------------------------------------------
    def epoch_start(self, epoch: int) -> None:
        """Prune to this epoch's target (0-based ``epoch``) when it is in the window."""
        from zoo_core.export.prune import prune_to, sparsity_report

        if not self.first <= epoch <= self.last:
            return
        target = self.targets[epoch]
        s = self.section
        if self.before is None:
            self.before = self.evaluate()
        zeros = sparsity_report(self.model, self.layers).zeros
        prune_to(self.model, target, method=s.method, n=s.n, dim=s.dim, layers=self.layers)
        rep = sparsity_report(self.model, self.layers)
        if rep.zeros != zeros:
            self.restart_monitors()
        self.steps.append({"epoch": epoch + 1, "target": target, "sparsity": rep.overall})
        self.log(f"pruning {self.role} ({s.method}): {rep.overall:.1%} of {rep.total:,} "
                 f"weights in {len(self.layers)} layers are zero (target {target:.1%})")
        self._warn_if_frozen()
        if epoch == self.last:
            self.pruned = self.evaluate()

    def finish(self) -> None:
        """Make the masks permanent: plain weights, no forward pre-hooks."""
        from zoo_core.export.prune import make_permanent

        make_permanent(self.model)

    # -- run hook (HookSet) ----------------------------------------------------------------
    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        from zoo_core.export.prune import sparsity_report

        metrics["prune/target"] = self.targets[epoch - 1]
        metrics["prune/sparsity"] = sparsity_report(self.model, self.layers).overall

    def state_dict(self) -> dict[str, Any]:
        return {"before": self.before, "pruned": self.pruned, "steps": list(self.steps)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.before, self.pruned = state.get("before"), state.get("pruned")
        self.steps = list(state.get("steps", []))

    # -- results ---------------------------------------------------------------------------
    def final_record(self) -> dict[str, Any]:
        """What the final line of metrics.jsonl gets: sparsity overall and per layer,
        the metrics before pruning and right after it (on the final split)."""
        from zoo_core.export.prune import sparsity_report

        rep = sparsity_report(self.model, self.layers)
        out: dict[str, Any] = {"prune/sparsity": rep.overall, "prune/zeros": rep.zeros,
                               "prune/weights": rep.total,
                               "prune/layers": {n: v["sparsity"] for n, v in
                                                rep.per_layer.items()}}
        for label, values in (("before", self.before), ("pruned", self.pruned)):
            out.update({f"prune/{label}/{self.split}/{k}": v
                        for k, v in (values or {}).items()})
        return out

    def report_lines(self, final: dict[str, Any]) -> list[str]:
        """The ``## Pruning`` section of report.md."""
        from zoo_core.engine.report import table
        from zoo_core.export.prune import sparsity_report

        s = self.section
        rep = sparsity_report(self.model, self.layers)
        window = (f"epoch {s.start_epoch}" if s.start_epoch == s.end_epoch
                  else f"epochs {s.start_epoch}-{s.end_epoch} ({s.schedule} schedule)")
        how = ("global L1 (the smallest weights of all these layers together)"
               if s.method == "global_l1"
               else f"structured L{s.n} (whole slices along weight axis {s.dim}, per layer)")
        lines = ["", f"## Pruning ({self.role})", "",
                 f"{how} to {s.amount:.0%} at the start of {window}; "
                 f"{len(self.layers)} layers of type {', '.join(s.modules)}"
                 + (" (the last one left whole)" if s.keep_last else "")
                 + "; the masks are permanent in the saved model.", ""]
        if not self.steps:
            lines += ["No pruning step ran (the run stopped before the first).", ""]
        names = [k.split("/", 1)[1] for k in final if k.startswith(f"{self.split}/")]
        if self.before is not None and names:
            lines += table([f"{self.split} metric", "before pruning", "pruned, not fine-tuned",
                            "final"],
                           [[k, (self.before or {}).get(k), (self.pruned or {}).get(k),
                             final.get(f"{self.split}/{k}")] for k in names])
            lines.append("")
        lines += [f"Sparsity: {rep.overall:.1%} overall ({rep.zeros:,} of {rep.total:,} "
                  "weights are zero).", ""]
        lines += table(["layer", "weights", "zeros", "sparsity"],
                       [[n, v["total"], v["zeros"], f"{v['sparsity']:.1%}"]
                        for n, v in rep.per_layer.items()])
        return lines

    # -- internals -------------------------------------------------------------------------
    def _pruned_form(self, module: nn.Module, state_dict: dict[str, Any], prefix: str,
                     *args: Any) -> None:
        """Before a state dict loads: layers it holds in pruned form get that form."""
        from zoo_core.export.prune import reparametrise

        for name, layer in self.layers:
            if f"{prefix}{name + '.' if name else ''}weight_orig" in state_dict:
                reparametrise(layer)

    def _warn_if_frozen(self) -> None:
        if self._warned_frozen:
            return
        frozen = [n for n, m in self.layers
                  if not getattr(m, "weight_orig", m.weight).requires_grad]
        if frozen:
            self._warned_frozen = True
            self.log(f"[yellow]warning:[/yellow] pruning {len(frozen)} of {len(self.layers)} "
                     f"layers that are frozen in this phase ({frozen[0]}...): nothing "
                     "fine-tunes them now, and a task that caches their outputs keeps the "
                     "unpruned ones until its next phase. Prune in a phase that trains them.")
