"""mir — the Modality Integration Rate of vision-language models, from tensors
where they are (PyTorch, NumPy), exact, in memory that does not grow with the
number of samples (docs/python.md).

    acc = mir.Accumulator(num_indices=K + 1, hidden_size=d)
    for _ in acc.passes():                 # exact in bounded memory: the data replayed
        for batch in data:
            out = model(**batch, output_hidden_states=True)
            acc.add_sample(out.hidden_states, vision_mask)
    res = acc.result()
    res.mir, res.fid_sum, res.layers[0].fid

    mir.compute(["dumps/"], outliers="drop")   # what `mir compute dumps/ --outliers drop` gives

Errors are mir.Error subclasses carrying the C++ messages (which name the
layer, the tensor and what was wrong).
"""
import json
import os
import sys
import tempfile
import time

from . import _mir
from ._mir import (  # noqa: F401  (re-exported)
    __version__,
    Error,
    ShapeError,
    NonFiniteError,
    TooFewRowsError,
    ArgumentError,
    FileError,
    NumericalError,
    UndefinedError,
    UsageError,
)
from .hooks import HiddenStateHook, image_token_masks  # noqa: E402,F401

__all__ = ["Accumulator", "Result", "Layer", "HiddenStateHook", "compute", "__version__", "Error", "ShapeError", "NonFiniteError",
           "TooFewRowsError", "ArgumentError", "FileError", "NumericalError", "UndefinedError", "UsageError"]


def _mask(m, what):
    """A mask as a contiguous 1-D bool/uint8 NumPy array (masks are small: this copy is the only one)."""
    import numpy as np
    if hasattr(m, "detach"):  # a torch tensor
        if m.device.type != "cpu":
            m = m.cpu()
        m = m.detach().numpy()
    a = np.asarray(m)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1:
        raise ShapeError(f"{what}: shape {list(a.shape)}; a mask is [T] (or [1, T])")
    if a.dtype != np.bool_ and a.dtype != np.uint8:
        raise ArgumentError(f"{what}: dtype {a.dtype}; a mask is bool or uint8")
    return np.ascontiguousarray(a)


_DTYPES = ["F16", "BF16", "F32", "F64"]


def _dtype_name(rows):
    """The safetensors name of a tensor's element type (for the inputs record)."""
    name = str(getattr(rows, "dtype", ""))
    for key, dt in (("bfloat16", "BF16"), ("float16", "F16"), ("half", "F16"), ("float32", "F32"),
                    ("float64", "F64"), ("double", "F64")):
        if name.endswith(key):
            return dt
    return "F32"


def _all_gather_bytes(b, group):
    """Every rank's bytes (in rank order) on every rank, through uint8 tensors (sizes first, then padded)."""
    import torch
    import torch.distributed as dist
    device = torch.device("cpu")
    if dist.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    world = dist.get_world_size(group)
    size = torch.tensor([len(b)], dtype=torch.int64, device=device)
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    sizes = [int(x.item()) for x in sizes]
    n = max(sizes)
    mine = torch.zeros(n, dtype=torch.uint8, device=device)
    if len(b):
        mine[:len(b)] = torch.frombuffer(bytearray(b), dtype=torch.uint8).to(device)
    parts = [torch.empty(n, dtype=torch.uint8, device=device) for _ in range(world)]
    dist.all_gather(parts, mine, group=group)
    return [p[:k].cpu().numpy().tobytes() for p, k in zip(parts, sizes)]


class Layer:
    """One layer's result: the fields of a layer of `mir compute --json` as attributes."""

    def __init__(self, d):
        self._d = dict(d)
        self.exact = True  # the median exact (False only for memory="reservoir" past its rows)
        for k, v in self._d.items():
            setattr(self, k, v)

    def to_dict(self):
        return dict(self._d)

    def __repr__(self):
        return f"<mir.Layer {self._d.get('layer')}: fid {self._d.get('fid')}>"


class Result:
    """MIR, fid_sum and the layers (`res.layers[i].fid`, `.alpha`, `.vision_rows`, ...), with
    to_dict() the result as a dict (for mir.compute, exactly the program's JSON)."""

    def __init__(self, d):
        self._d = d
        self.mir = d["mir"]
        self.fid_sum = d["fid_sum"]
        self.layers = [Layer(x) for x in d["layers"]]

    def to_dict(self):
        """The result as `mir compute --json` writes it (docs/schema/compute.schema.json)."""
        return json.loads(json.dumps(self._d))

    def __repr__(self):
        return f"<mir.Result MIR {self.mir:.6f} over {len(self.layers)} layers>"


class Accumulator:
    """MIR fed sample by sample from a model's hidden states.

    memory="bounded" (default): exact, in memory independent of the number of samples; the
    evaluation set is replayed — ``for _ in acc.passes(): for sample in data: acc.add_sample(...)``
    (pass 1 the norms and the median's digits, pass 2 the moments; two more only while a median
    digit is undecided). memory="rows": exact in one pass, every row kept (the official code's
    memory). memory="reservoir": one pass, bounded, the replace-median stand-in estimated from
    `reservoir_rows` rows per layer and modality (results say exact=False once it outgrows them).
    """

    def __init__(self, num_indices, hidden_size, outliers="replace-median", sqrt="exact", precision="fp64",
                 layers=None, memory="bounded", reservoir_rows=4096):
        self.num_indices = int(num_indices)
        self.hidden_size = int(hidden_size)
        self.outliers, self.sqrt, self.precision, self.memory = outliers, sqrt, precision, memory
        self._impl = _mir._Accumulator(self.num_indices, self.hidden_size, outliers, sqrt, precision,
                                       None if layers is None else [int(k) for k in layers], memory,
                                       int(reservoir_rows))
        self._samples = 0
        self._layers = list(self._impl.layers)
        self._records = []  # per sample of pass 1: (vision rows, text rows, ignored rows, dtype)
        self._started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    @property
    def layers(self):
        """The hidden-state indices entering MIR (default 1..K)."""
        return self._impl.layers

    @property
    def done(self):
        """No pass is left: result() may be called."""
        return self._impl.done

    @property
    def current_pass(self):
        """The pass in progress (1-based)."""
        return self._impl.pass_

    @property
    def samples(self):
        """Samples added (add_sample calls) in the pass in progress."""
        return self._samples

    def wants(self, index):
        """Whether hidden-state index `index` takes rows in this pass (a hook may skip the rest)."""
        return self._impl.wants(int(index))

    def add(self, index, rows, vision_mask, text_mask=None):
        """One hidden-state index of one sample: rows [T, d] or [1, T, d] (torch CPU tensor or NumPy
        array; f16, bf16, f32, f64; read in place), a [T] vision mask and optionally a [T] text mask
        (positions in neither are ignored; without it, every non-vision position is text)."""
        vm = _mask(vision_mask, "vision_mask")
        tm = None if text_mask is None else _mask(text_mask, "text_mask")
        self._add(int(index), rows, vm, tm)

    def _add(self, index, rows, vm, tm):
        if self._impl.wants(index):
            self._impl.add(index, rows, vm, tm)
        elif not 0 <= index < self.num_indices:
            raise ArgumentError(f"hidden-state index {index} is outside 0..{self.num_indices - 1}")
        if index == self._layers[0] and self._impl.pass_ == 1:
            self._record(rows, vm, tm)

    def _record(self, rows, vm, tm):
        """A sample of pass 1, for to_dict()'s inputs (its first chosen index's rows and masks)."""
        import numpy as np
        v = int(np.count_nonzero(vm))
        t = int(vm.size - v) if tm is None else int(np.count_nonzero(tm))
        self._records.append((v, t, int(vm.size) - v - t, _dtype_name(rows)))

    def add_sample(self, hidden_states, vision_mask, text_mask=None):
        """A whole sample: the `output_hidden_states` tuple (K + 1 tensors [1, T, d]) or a stacked
        tensor [K + 1, T, d] / [K + 1, 1, T, d]."""
        if isinstance(hidden_states, (tuple, list)):
            per_index = list(hidden_states)
        else:
            per_index = [hidden_states[k] for k in range(int(hidden_states.shape[0]))]
        if len(per_index) != self.num_indices:
            raise ShapeError(f"add_sample: {len(per_index)} hidden-state indices, the accumulator has "
                             f"{self.num_indices}")
        vm = _mask(vision_mask, "vision_mask")
        tm = None if text_mask is None else _mask(text_mask, "text_mask")
        for k, h in enumerate(per_index):
            self._add(k, h, vm, tm)
        self._samples += 1

    def end_pass(self):
        """Ends the pass in progress (memory="bounded"); the data is then replayed unless done."""
        self._impl.end_pass()
        self._samples = 0

    def passes(self):
        """The passes to run over the data: ``for p in acc.passes(): <feed every sample>``. One pass
        for the one-pass memories."""
        if self.memory != "bounded":
            yield 1
            return
        while not self._impl.done:
            yield self._impl.pass_
            self.end_pass()

    def result(self):
        """The Result (once done): res.mir, res.fid_sum, res.layers[i] with the fields of a layer of `mir compute
        --json` as attributes (and .exact); res.to_dict() is that document for these rows."""
        r = self._impl.result()
        doc = self._document()
        for layer, lr in zip(doc["layers"], r.layers):
            assert layer["layer"] == lr.layer
        res = Result(doc)
        for layer, lr in zip(res.layers, r.layers):
            layer.exact = lr.exact  # False only for memory="reservoir" past its rows (not a JSON field)
        return res

    def to_dict(self):
        """The result as `mir compute --json` writes it (docs/schema/compute.schema.json): MIR, every layer's
        FID and terms, and the provenance — options as compute records them (paths: where the rows came from),
        this process's command line, when the accumulator was made, and the samples seen (per sample its vision,
        text and ignored rows and dtype; bytes null)."""
        return self.result().to_dict()

    def _document(self):
        if not self._records:
            raise ArgumentError("to_dict(): no sample was added (the inputs record needs at least one)")
        files = [{"path": f"<sample {i}>", "bytes": None, "layout": "per-sample", "dtype": dt, "vision_rows": v,
                  "text_rows": t, "ignored_rows": ig} for i, (v, t, ig, dt) in enumerate(self._records)]
        inputs = {"num_indices": self.num_indices, "hidden_size": self.hidden_size, "samples": len(files),
                  "vision_rows": sum(f["vision_rows"] for f in files), "text_rows": sum(f["text_rows"] for f in files),
                  "ignored_rows": sum(f["ignored_rows"] for f in files), "files": files}
        doc = _mir._result_document(self._impl, self.hidden_size, self.num_indices, self.outliers, self.sqrt,
                                    self.precision, self._layers, [sys.executable or "python3", *sys.argv],
                                    self._started_at, json.dumps(inputs), f"<python: mir.Accumulator, memory={self.memory}>")
        return json.loads(doc)

    # ---- State: saved, merged, all-reduced (memory="bounded") ----------------------------------------

    def state_dict(self):
        """The state as a dict of plain values and bytes (torch.save / pickle it; load_state_dict reads it
        back into an Accumulator made with the same arguments). The bytes are the C++ state's fields in this
        machine's representation, for the same mir version (mir/stats/state_bytes.hpp), not an archive
        format: for files that outlive the version use `mir compute --save-state`."""
        n = self._impl.state_count
        return {"format": "mir.Accumulator", "version": 1, "mir_version": __version__,
                "num_indices": self.num_indices, "hidden_size": self.hidden_size, "outliers": self.outliers,
                "sqrt": self.sqrt, "precision": self.precision, "memory": self.memory, "layers": list(self._layers),
                "pass": self._impl.pass_, "samples": self._samples, "records": [list(r) for r in self._records],
                "started_at": self._started_at, "states": [self._impl.layer_bytes(i) for i in range(n)]}

    def load_state_dict(self, state):
        """Continues from a state_dict() (of an Accumulator with the same arguments, from this mir version)."""
        if not isinstance(state, dict) or state.get("format") != "mir.Accumulator":
            raise ArgumentError("load_state_dict: not a mir.Accumulator state_dict")
        for key in ("version", "mir_version", "num_indices", "hidden_size", "outliers", "precision", "memory",
                    "layers"):
            mine = {"version": 1, "mir_version": __version__, "layers": list(self._layers)}.get(key,
                                                                                              getattr(self, key, None))
            if state.get(key) != mine:
                raise ArgumentError(f"load_state_dict: the state's {key} is {state.get(key)!r}, this accumulator's "
                                    f"{mine!r}")
        self._impl.restore(int(state["pass"]), list(state["states"]))
        self._samples = int(state["samples"])
        self._records = [tuple(r) for r in state["records"]]
        self._started_at = state.get("started_at", self._started_at)

    def merge(self, other):
        """Adds another participant's contributions to the pass in progress (an Accumulator with the same
        arguments that started this pass from the same state and added its own samples); participants are
        merged in a fixed order (rank order), so every one computes the same numbers."""
        if not isinstance(other, Accumulator):
            raise ArgumentError(f"merge: a {type(other).__name__}, not a mir.Accumulator")
        self._impl.merge(other._impl)
        if self._impl.pass_ == 1:
            self._records += other._records
        self._samples += other._samples

    def all_reduce(self, group=None):
        """torch.distributed: every rank's contributions to the pass in progress merged in rank order, the
        merged state on every rank (collective: every rank of `group` calls it once per pass, after feeding
        its own samples and before the pass ends). With it each DDP/FSDP rank feeds its own share, and every
        rank's result() is the single-process result over all ranks' samples (in rank order), the exact median
        included. Works on any backend that all-gathers uint8 tensors (gloo; NCCL with CUDA tensors)."""
        import torch.distributed as dist
        if not dist.is_available() or not dist.is_initialized():
            raise ArgumentError("all_reduce: torch.distributed is not initialised (init_process_group first)")
        for i in range(self._impl.state_count):
            if self._impl.layer_done(i):
                continue  # the same on every rank: the states after each all_reduce are identical
            parts = _all_gather_bytes(self._impl.layer_bytes(i), group)
            self._impl.load_merged_layer(i, parts)
        if self._impl.pass_ == 1:
            import numpy as np
            rec = np.array([[v, t, ig, _DTYPES.index(dt)] for v, t, ig, dt in self._records], np.int64).reshape(-1, 4)
            self._records = [(int(v), int(t), int(ig), _DTYPES[int(c)])
                             for part in _all_gather_bytes(rec.tobytes(), group)
                             for v, t, ig, c in np.frombuffer(part, np.int64).reshape(-1, 4)]
        counts = _all_gather_bytes(int(self._samples).to_bytes(8, "little"), group)
        self._samples = sum(int.from_bytes(c, "little") for c in counts)


def _option_args(options):
    args = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def compute(paths, **options):
    """`mir compute PATHS --OPTION VALUE ...` in this process: the same parser, checks and numbers as
    the program (options by their long names, '-' as '_': outliers="drop", ci=0.95, layers="1-4").
    Returns the Result, whose to_dict() is the program's JSON."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for bad in ("json", "plot", "save_state", "resume", "mpi"):
        if bad in options:
            raise UsageError(f"mir.compute: {bad}= is not taken here (the result is returned; run the program "
                             "for files and shards)")
    with tempfile.TemporaryDirectory(prefix="mir-") as tmp:
        out = os.path.join(tmp, "result.json")
        options.setdefault("format", "none")  # the result is returned: no table on this process's stdout
        _mir._run_program(["compute", *[os.fspath(p) for p in paths], "--json", out, "--quiet",
                           *_option_args(options)])
        with open(out) as f:
            return Result(json.load(f))
