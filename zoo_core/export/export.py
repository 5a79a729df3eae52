"""Export a model to ONNX or to a PT2 archive.

Both formats start from one ``torch.export.export(..., strict=False)`` graph;
ONNX is then ``torch.onnx.export(exported_program, dynamo=True)`` (the
onnxscript-based exporter), PT2 is ``torch.export.save``. The batch axis is
dynamic unless asked otherwise; a fully convolutional network (an image in, an
image-shaped tensor out: SR, U-Net, autoencoder) also keeps its height and
width dynamic. ``torch.export.Dim.AUTO`` lets torch work out the constraints a
network imposes (a U-Net's "divisible by 2^depth") instead of failing on them.

The data config (mean, std, input size, interpolation), labels and the source
are stored in the ONNX file's ``metadata_props`` (key ``zoo``, JSON) or the PT2
archive's extra file ``zoo.json``, and in a JSON file beside the export
(``model.onnx`` -> ``model.onnx.json``).

Failures become one :class:`ExportError` naming the module that failed and
why, never the exporter's multi-page report.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo_core.atomic import atomic_open, atomic_path
from zoo_core.errors import ZooError

FORMATS = ("onnx", "pt2")
#: names given to dynamic axes of image-like inputs (axis -> name)
AXIS_NAMES = {0: "batch", 2: "height", 3: "width"}


class ExportError(ZooError):
    """The model could not be exported; the message names the module and the cause."""


@dataclass
class ExportResult:
    """What an export wrote and how its inputs may vary."""

    path: Path
    format: str
    input_names: list[str]
    output_names: list[str]
    #: input name -> {axis: name} for every axis that is dynamic in the export
    dynamic_axes: dict[str, dict[int, str]]
    #: input name -> shape of the example, with dynamic axes shown by name
    input_shapes: dict[str, list[int | str]]
    opset: int | None
    metadata: dict[str, Any]
    sidecar: Path
    seconds: float
    fully_convolutional: bool
    program: Any = field(default=None, repr=False)  # the torch.export.ExportedProgram

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def sidecar_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``: the JSON written beside every export."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def is_fully_convolutional(example: Sequence[torch.Tensor], output: Any) -> bool:
    """An image in and an image-shaped tensor out: height and width can vary."""
    first_out = _first_tensor(output)
    if len(example) != 1 or first_out is None:
        return False
    x = example[0]
    return (x.ndim == 4 and first_out.ndim == 4 and min(x.shape[-2:]) > 1
            and min(first_out.shape[-2:]) > 1)


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _flat_outputs(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _flat_outputs(item)]
    return []


def _dynamic_shapes(example: Sequence[torch.Tensor], dynamic_batch: bool,
                    dynamic_spatial: bool) -> tuple[Any, ...]:
    auto = torch.export.Dim.AUTO
    specs: list[Any] = []
    for x in example:
        axes: dict[int, Any] = {}
        if dynamic_batch and x.ndim >= 1:
            axes[0] = auto
        if dynamic_spatial and x.ndim == 4:
            axes[2] = auto
            axes[3] = auto
        specs.append(axes or None)
    return tuple(specs)


def _module_names(model: nn.Module) -> dict[int, tuple[str, str]]:
    return {id(m): (name or "(the whole model)", type(m).__name__)
            for name, m in model.named_modules()}


def _failing_module(model: nn.Module, exc: BaseException) -> tuple[str, str] | None:
    """The innermost module of ``model`` whose ``forward`` is on the traceback.

    Non-strict ``torch.export`` runs the real Python ``forward`` methods, so the
    frame that raised sits inside the module that did something export cannot
    follow."""
    names = _module_names(model)
    found = None
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        for frame, _ in traceback.walk_tb(err.__traceback__):
            owner = frame.f_locals.get("self")
            if owner is not None and id(owner) in names:
                found = names[id(owner)]
        err = err.__cause__ or err.__context__
    return found


def _node_module(program: Any, node_name: str) -> tuple[str, str] | None:
    """(module path, class name) that produced graph node ``node_name``."""
    for node in program.graph.nodes:
        if node.name == node_name:
            stack = node.meta.get("nn_module_stack") or {}
            if not stack:
                return None
            path, cls = list(stack.values())[-1]
            cls_name = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
            return path or "(the whole model)", cls_name.rsplit(".", 1)[-1]
    return None


def _chain_text(exc: BaseException) -> str:
    parts, seen = [], set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        parts.append(str(err))
        err = err.__cause__ or err.__context__
    return "\n".join(parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return f"{type(exc).__name__}: {line}"[:300] if line else type(exc).__name__


def _where(found: tuple[str, str] | None) -> str:
    return f"module '{found[0]}' ({found[1]})" if found else "the model"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep torch's own failure dumps (a partial FX graph printed to stderr, guard
    warnings) off the user's terminal: the ExportError says what matters."""
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        torch_log.setLevel(level)


def _torch_export(model: nn.Module, example: tuple[torch.Tensor, ...],
                  dynamic_shapes: tuple[Any, ...], label: str) -> Any:
    try:
        with _quiet():
            return torch.export.export(model, example, dynamic_shapes=dynamic_shapes,
                                       strict=False)
    except Exception as exc:  # noqa: BLE001 - every export failure becomes one message
        where = _where(_failing_module(model, exc))
        raise ExportError(
            f"Cannot export {label}: torch.export could not trace {where}: {_first_line(exc)}. "
            "Export needs a forward pass made of tensor operations; data-dependent Python "
            "(an `if` on a tensor's value, .item(), numpy calls) in that module must be "
            "rewritten with torch operations (torch.where, torch.cond) before it can be "
            "exported."
        ) from None


def _onnx_failure(program: Any, exc: BaseException, label: str, opset: int | None
                  ) -> ExportError:
    text = re.sub(r"\x1b\[[0-9;]*m", "", _chain_text(exc))
    node = re.search(r"translating node %(\S+)", text)
    op = re.search(r"No ONNX function found for <OpOverload\(op='([^']+)', overload='([^']+)'",
                   text)
    found = _node_module(program, node.group(1)) if node else None
    op_name = f"{op.group(1)}.{op.group(2)}" if op else None
    if op_name is None and node is not None:
        for n in program.graph.nodes:
            if n.name == node.group(1):
                op_name = str(n.target)
    opset_text = f"opset {opset}" if opset else "the default opset"
    if op is not None:
        return ExportError(
            f"Cannot export {label} to ONNX: {_where(found)} uses the operator {op_name}, "
            f"which has no ONNX translation in torch {torch.__version__.split('+')[0]} "
            f"({opset_text}). Replace it in that module's forward with standard torch "
            "operations, or export with --format pt2, which keeps every torch operator."
        )
    return ExportError(
        f"Cannot export {label} to ONNX: translating "
        + (f"{op_name} in " if op_name else "")
        + f"{_where(found)} failed ({_first_line(exc)}). Try another --opset, or --format pt2."
    )


def _symbol_names(program: Any, input_names: Sequence[str]
                  ) -> tuple[dict[str, str], dict[str, dict[int, str]], dict[str, list[Any]]]:
    """symbol -> readable axis name, dynamic axes per input, shapes per input."""
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    user = list(program.graph_signature.user_inputs)
    rename: dict[str, str] = {}
    dynamic: dict[str, dict[int, str]] = {}
    shapes: dict[str, list[Any]] = {}
    for i, pname in enumerate(user):
        node = placeholders.get(pname)
        val = node.meta.get("val") if node is not None else None
        if val is None or not hasattr(val, "shape"):
            continue
        iname = input_names[i] if i < len(input_names) else pname
        suffix = "" if len(user) == 1 else str(i)
        axes: dict[int, str] = {}
        shape: list[Any] = []
        for axis, dim in enumerate(val.shape):
            if isinstance(dim, torch.SymInt) and str(dim).isdigit():
                # asked to be dynamic, but the model fixed it (int() of a size in its
                # forward specialises the axis): a static size, not a named axis
                shape.append(int(str(dim)))
            elif isinstance(dim, torch.SymInt):
                sym = str(dim)
                name = rename.get(sym) or (AXIS_NAMES.get(axis, f"dim{axis}")
                                           + ("" if axis == 0 else suffix))
                if re.fullmatch(r"[a-z]\d+", sym):
                    rename.setdefault(sym, name)
                axes[axis] = rename.get(sym, sym)
                shape.append(axes[axis])
            else:
                shape.append(int(dim))
        dynamic[iname] = axes
        shapes[iname] = shape
    return rename, dynamic, shapes


def _rename_onnx_dims(ir_model: Any, rename: Mapping[str, str]) -> None:
    """Give symbolic dimensions readable names (s31 -> batch) in every value's shape,
    and make the ones the model fixed to a number ("64") the static sizes they are."""
    import onnx_ir as ir

    pattern = re.compile(r"\b(" + "|".join(map(re.escape, rename)) + r")\b") if rename \
        else None

    def fix(value: Any) -> None:
        shape = getattr(value, "shape", None)
        if shape is None:
            return
        dims: list[Any] = []
        changed = False
        for d in shape:
            if isinstance(d, ir.SymbolicDim) and d.value and d.value.isdigit():
                dims.append(int(d.value))
                changed = True
            elif isinstance(d, ir.SymbolicDim) and d.value and pattern is not None:
                new = pattern.sub(lambda m: rename[m.group(1)], d.value)
                changed = changed or new != d.value
                dims.append(ir.SymbolicDim(new))
            else:
                dims.append(d)
        if changed:
            value.shape = ir.Shape(dims)

    graph = ir_model.graph
    for v in list(graph.inputs) + list(graph.outputs):
        fix(v)
    for node in graph.all_nodes() if hasattr(graph, "all_nodes") else graph:
        for v in node.outputs:
            fix(v)


def _strip_debug_metadata(ir_model: Any) -> None:
    """Drop the exporter's per-node debug records (``pkg.torch.onnx.stack_trace``,
    ``fx_node``, ``class_hierarchy``, ``namespace``...): 1-2 KB per node of
    source paths from the exporting machine, which a deployed file should not
    carry and no runtime reads."""
    graph = ir_model.graph
    nodes = list(graph.all_nodes()) if hasattr(graph, "all_nodes") else list(graph)
    for fn in getattr(ir_model, "functions", {}).values():
        nodes += list(fn)
    for node in nodes:
        props = node.metadata_props
        for key in [k for k in props if k.startswith("pkg.") or k == "namespace"]:
            del props[key]
        for v in node.outputs:
            vprops = v.metadata_props
            for key in [k for k in vprops if k.startswith("pkg.")]:
                del vprops[key]


def export_model(model: nn.Module, example: Sequence[torch.Tensor], out: str | Path, *,
                 fmt: str = "onnx", opset: int | None = None, dynamic_batch: bool = True,
                 dynamic_spatial: bool | None = None, metadata: Mapping[str, Any] | None = None,
                 label: str = "the model") -> ExportResult:
    """Export ``model`` (eval mode) traced on ``example`` to ``out``.

    ``dynamic_spatial=None`` makes height and width dynamic exactly when the
    network is fully convolutional (see :func:`is_fully_convolutional`). The
    example's batch should be >= 2 when the batch is dynamic (torch specialises
    size-1 axes); a batch of 1 is repeated.
    """
    if fmt not in FORMATS:
        raise ZooError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    t0 = time.perf_counter()
    out = Path(out)
    model = model.eval()
    example = tuple(example)
    if dynamic_batch and example and example[0].shape[0] == 1:
        example = tuple(torch.cat([x, x]) for x in example)
    with torch.no_grad():
        try:
            output = model(*example)
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"Cannot export {label}: its forward pass fails on an input of "
                              f"shape {[tuple(x.shape) for x in example]} in "
                              f"{_where(_failing_module(model, exc))}: {_first_line(exc)}."
                              ) from None
    fcn = is_fully_convolutional(example, output)
    spatial = fcn if dynamic_spatial is None else bool(dynamic_spatial)
    outputs = _flat_outputs(output)
    input_names = ["input"] if len(example) == 1 else [f"input{i}" for i in range(len(example))]
    output_names = ["output"] if len(outputs) == 1 else [f"output{i}"
                                                         for i in range(len(outputs))]
    program = _torch_export(model, example, _dynamic_shapes(example, dynamic_batch, spatial),
                            label)
    rename, dynamic, shapes = _symbol_names(program, input_names)
    meta: dict[str, Any] = dict(metadata or {})
    meta.update(format=fmt, inputs=shapes, dynamic_axes={k: {str(a): n for a, n in v.items()}
                                                         for k, v in dynamic.items()},
                input_names=input_names, output_names=output_names,
                torch_version=torch.__version__)
    used_opset: int | None = None
    if fmt == "onnx":
        try:
            with _quiet():
                prog = torch.onnx.export(program, example, dynamo=True, verbose=False,
                                         opset_version=opset, input_names=input_names,
                                         output_names=output_names, optimize=True)
        except Exception as exc:  # noqa: BLE001
            raise _onnx_failure(program, exc, label, opset) from None
        assert prog is not None
        used_opset = int(prog.model.opset_imports.get("", opset or 0)) or None
        meta["opset"] = used_opset
        _rename_onnx_dims(prog.model, rename)
        _strip_debug_metadata(prog.model)
        prog.model.metadata_props["zoo"] = json.dumps(meta, default=str)
        for key in ("mean", "std", "input_size", "interpolation"):
            if key in (meta.get("data_config") or {}):
                prog.model.metadata_props[f"zoo.{key}"] = json.dumps(meta["data_config"][key])
        with atomic_path(out) as tmp:
            prog.save(tmp)
    else:
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            torch.export.save(program, fh, extra_files={"zoo.json": json.dumps(meta,
                                                                                default=str)})
    sidecar = sidecar_path(out)
    with atomic_open(sidecar) as fh:
        json.dump({"file": out.name, **meta}, fh, indent=2, default=str)
        fh.write("\n")
    return ExportResult(path=out, format=fmt, input_names=input_names,
                        output_names=output_names, dynamic_axes=dynamic, input_shapes=shapes,
                        opset=used_opset, metadata=meta, sidecar=sidecar,
                        seconds=time.perf_counter() - t0, fully_convolutional=fcn,
                        program=program)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``zoo`` metadata of an exported file: the ONNX ``metadata_props`` or
    the PT2 ``zoo.json``, else the JSON beside it; empty when none is found."""
    p = Path(path)
    if p.suffix == ".onnx":
        try:
            import onnx

            model = onnx.load(str(p), load_external_data=False)
            for prop in model.metadata_props:
                if prop.key == "zoo":
                    return dict(json.loads(prop.value))
        except Exception:  # noqa: BLE001 - fall back on the sidecar
            pass
    side = sidecar_path(p)
    if side.is_file():
        return dict(json.loads(side.read_text(encoding="utf-8")))
    return {}


def update_sidecar(path: str | Path, **fields: Any) -> None:
    """Add ``fields`` (e.g. the parity report) to the JSON beside ``path``."""
    side = sidecar_path(path)
    doc = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    doc.update(fields)
    with atomic_open(side) as fh:
        json.dump(doc, fh, indent=2, default=str)
        fh.write("\n")
