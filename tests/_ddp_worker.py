"""Run by tests/test_distributed.py under torchrun (2 gloo processes on the CPU).

Every process joins the group through ``zoo_core.engine.distributed.session``,
then:

1. averages known, rank-dependent gradients with ``average_gradients`` (one
   parameter has a gradient on rank 0 only, one on no rank);
2. reduces a real ``MeanMeter`` fed with rank-dependent values;
3. trains a few steps of RECIPE's pipeline (a GAN: two roles, explicit
   per-role averaging) exactly as the trainer does.

After the session it counts the DDP wrappers still alive (a wrapper alive at
interpreter exit aborts a gloo process). Rank 0 writes what it saw to OUT
(JSON); the test checks it.
"""

from __future__ import annotations

import gc
import json
import sys
import weakref

import torch


def main(recipe_path: str, out: str, steps: int) -> None:
    from zoo_core.engine import distributed
    from zoo_core.engine.meters import MeanMeter
    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.recipe import load_recipe

    with distributed.session("cpu") as device:
        rank, world = distributed.rank(), distributed.world_size()
        result: dict = {"world": world, "device": device}

        # 1. gradients: p0 has (rank + 1) everywhere, p1 only on rank 0, p2 none
        params = [torch.nn.Parameter(torch.zeros(3)) for _ in range(3)]
        params[0].grad = torch.full((3,), float(rank + 1))
        if rank == 0:
            params[1].grad = torch.full((3,), 4.0)
        distributed.average_gradients(params)
        result["grads"] = [None if p.grad is None else p.grad.tolist() for p in params]

        # 2. a meter over two shards: rank r saw values r and 10 + r, 2 samples each
        meter = MeanMeter()
        meter.update({"x": torch.tensor(float(rank))}, 2)
        meter.update({"x": torch.tensor(10.0 + rank), **({"y": 1.0} if rank else {})}, 2)
        result["meter"] = distributed.reduce_meter(meter).compute()

        # 3. training steps of the recipe
        recipe = load_recipe(recipe_path)
        pipe = build_pipeline(recipe, device)
        pipe.configure_phase(0)
        pipe.start_epoch(0)
        before = {role: [p.detach().clone() for p in m.parameters()]
                  for role, m in pipe.models.items()}
        loader = pipe.train_loader
        loader.sampler.set_epoch(0)
        done = 0
        for batch in loader:
            pipe.ctx.boundary = True
            pipe.step(batch)
            done += 1
            if done >= steps:
                break
        after = {role: [p.detach().clone() for p in m.parameters()]
                 for role, m in pipe.models.items()}
        everyone = distributed.gather(after)
        result["steps"] = done
        result["samples_per_rank"] = len(loader.sampler)
        result["manual"] = bool(pipe.ctx.replicas.manual)
        result["roles"] = {
            role: {
                "moved": max(float((a - b).abs().max()) for a, b in zip(
                    after[role], before[role], strict=True)),
                "spread": max(float((theirs - mine).abs().max())
                              for other in everyone[1:]
                              for theirs, mine in zip(other[role], after[role], strict=True)),
            } for role in after}
        wrappers = [weakref.ref(w) for w in pipe.ctx.replicas.wrappers.values()]
        main_rank = distributed.is_main()

    # `pipe` is still in scope: leaving the session must have let go of the DDP wrappers
    gc.collect()
    result["wrappers_alive_after_session"] = sum(w() is not None for w in wrappers)
    if main_rank:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(result, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
