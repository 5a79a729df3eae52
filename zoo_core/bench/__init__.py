"""``zoo bench``: throughput, latency, memory, FLOPs and MFU, timm's protocol.

* :mod:`zoo_core.bench.models` - timing registry models (the runner and sweeps);
* :mod:`zoo_core.bench.measure` - clocks, timed loops, memory, FLOPs, the matmul peak;
* :mod:`zoo_core.bench.environment` - the environment block every report carries;
* :mod:`zoo_core.bench.recipe` - a recipe's real pipeline, data vs compute;
* :mod:`zoo_core.bench.report` - CSV, JSON, Markdown and PNG reports.

Importing this package is cheap; the modules import torch.
"""
