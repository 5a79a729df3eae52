"""Edge deployment: export to ONNX / PT2, parity checks, int8 quantization,
onnxruntime benchmarks and pruning helpers.

Modules (each imports torch or onnxruntime only when used):

* :mod:`~zoo_core.export.source` - the saved model a path means (:func:`open_source`)
  and random inputs for it;
* :mod:`~zoo_core.export.rundata` - real batches and the task's metric from a
  run folder's recipe (the one place that knows the engine's batch shape);
* :mod:`~zoo_core.export.export` - ``torch.export`` / ``torch.onnx.export(dynamo=True)``
  with dynamic batch and, for fully convolutional nets, dynamic height and width;
* :mod:`~zoo_core.export.parity` - onnxruntime (or the saved PT2 program) against eager torch;
* :mod:`~zoo_core.export.quantize` - ONNX Runtime int8, static (QDQ, per-channel) and dynamic;
* ``zoo bench model.onnx`` lives with zoo bench (:mod:`zoo_core.bench.onnx`);
* :mod:`~zoo_core.export.workflow` - what ``zoo export`` / ``zoo quantize`` do, as functions;
* :mod:`~zoo_core.export.prune` - torch.nn.utils.prune helpers for a later ``[prune]`` section.
"""
