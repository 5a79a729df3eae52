"""Does `zoo bench` report what a bare timm-protocol loop measures?

In ONE process, time the same networks twice per round: through zoo's code
path (registry -> zoo_core.bench.models.Runner, exactly what `zoo bench` runs) and
through a minimal loop written from timm's benchmark.py protocol (model from
timm / torchvision directly, random input, inference_mode, warm-up, then a
timed run; train = zero_grad outside the clock, forward, cross-entropy on random
targets, backward, SGD step). The two are interleaved and their order
alternates every round so that drift in machine load hits both alike.

Two figures per case: the ratio of the best round of each side (like
``timeit``, the least-disturbed run estimates the machine's real speed; this is
the one checked against the tolerance) and the median of the per-round paired
ratios. On a machine shared with other work, use more, shorter rounds.

    .venv/bin/python benchmarks/bench_vs_timm_protocol.py            # the issue's set
    .venv/bin/python benchmarks/bench_vs_timm_protocol.py --rounds 5 --mode both \
        --out /tmp/zoo_vs_timm.json

Pass: every best-of-rounds ratio within 3% of 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

CASES = [("resnet18", 8), ("resnet18", 32), ("resnet50", 8), ("resnet50", 32),
         ("alexnet", 8), ("alexnet", 32)]


# -- the minimal loop (timm's protocol, nothing else) --------------------------


def plain_model(name: str) -> nn.Module:
    if name == "alexnet":
        import torchvision

        return torchvision.models.alexnet()
    import timm

    return timm.create_model(name)


def minimal_infer(model: nn.Module, batch: int, warmup: int, iters: int) -> float:
    model.eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        start = time.perf_counter()
        for _ in range(iters):
            model(x)
        elapsed = time.perf_counter() - start
    return batch * iters / elapsed


def minimal_train(model: nn.Module, batch: int, warmup: int, iters: int) -> float:
    model.train()
    x = torch.randn(batch, 3, 224, 224)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        out = model(x)
        target = torch.empty(batch, dtype=torch.long).random_(out.shape[1])
        loss_fn(out, target).backward()
        opt.step()

    for _ in range(warmup):
        opt.zero_grad()
        step()
    start = time.perf_counter()
    for _ in range(iters):
        opt.zero_grad()  # outside the step clock, inside the run's, as timm
        step()
    return batch * iters / (time.perf_counter() - start)


# -- zoo's path ----------------------------------------------------------------


def zoo_rate(name: str, batch: int, mode: str, warmup: int, iters: int) -> float:
    from zoo_core.bench.models import BenchSettings, BenchSpec, Runner

    runner = Runner(BenchSettings(mode=mode, device="cpu", warmup=warmup, iters=iters,
                                  latency=False))
    row = runner.run(BenchSpec(name, batch))
    if row["error"]:
        raise RuntimeError(f"zoo bench failed on {name}: {row['error']}")
    return float(row[f"{mode}_samples_per_sec"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--mode", choices=["infer", "train", "both"], default="infer")
    ap.add_argument("--models", nargs="*", help="name:batch pairs (default: the issue's set)")
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--threads", type=int,
                    help="torch threads for both sides (default: torch's own choice); 1 keeps "
                         "a busy shared machine from adding scheduling noise")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    cases = [(m.split(":")[0], int(m.split(":")[1])) for m in args.models] if args.models \
        else CASES
    modes = ["infer", "train"] if args.mode == "both" else [args.mode]
    minimal: dict[str, Callable[..., float]] = {"infer": minimal_infer, "train": minimal_train}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds x (warm-up {args.warmup}, {args.iters} timed steps)", flush=True)

    results = []
    for mode in modes:
        for name, batch in cases:
            zoo, mini, ratios = [], [], []
            for r in range(args.rounds):
                # alternate who goes first, so a slow spell does not always hit one side
                order = ("zoo", "minimal") if r % 2 == 0 else ("minimal", "zoo")
                got = {}
                for who in order:
                    if who == "zoo":
                        got[who] = zoo_rate(name, batch, mode, args.warmup, args.iters)
                    else:
                        model = plain_model(name)
                        got[who] = minimal[mode](model, batch, args.warmup, args.iters)
                        del model
                zoo.append(got["zoo"])
                mini.append(got["minimal"])
                ratios.append(got["zoo"] / got["minimal"])
            best = max(zoo) / max(mini)
            res = {"mode": mode, "model": name, "batch_size": batch,
                   "zoo_samples_per_sec": [round(v, 2) for v in zoo],
                   "minimal_samples_per_sec": [round(v, 2) for v in mini],
                   "paired_ratios": [round(v, 4) for v in ratios],
                   "best_ratio": round(best, 4),
                   "median_paired_ratio": round(statistics.median(ratios), 4),
                   "within_tolerance": abs(best - 1) <= args.tolerance}
            results.append(res)
            print(f"{mode:5s} {name:9s} bs{batch:<3d} best: zoo {max(zoo):8.2f}/s  minimal "
                  f"{max(mini):8.2f}/s  ratio {best:.4f} | median paired ratio "
                  f"{res['median_paired_ratio']:.4f} "
                  f"(rounds {', '.join(f'{v:.3f}' for v in ratios)})"
                  f"{'' if res['within_tolerance'] else '  OUTSIDE TOLERANCE'}", flush=True)

    if args.out:
        from zoo_core.atomic import atomic_open
        from zoo_core.bench.models import environment

        with atomic_open(args.out) as fh:
            json.dump({"environment": environment(torch.device("cpu")), "settings": vars(args),
                       "results": results}, fh, indent=2)
    return 0 if all(r["within_tolerance"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
