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
import tempfile

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

__all__ = ["Accumulator", "Result", "Layer", "compute", "__version__", "Error", "ShapeError", "NonFiniteError",
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


class Layer:
    """One layer's result: the fields of a layer of `mir compute --json` as attributes."""

    def __init__(self, d):
        self._d = dict(d)
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
        return json.loads(json.dumps(self._d))

    def __repr__(self):
        return f"<mir.Result MIR {self.mir:.6f} over {len(self.layers)} layers>"


def _layer_dict(l):
    return {"layer": l.layer, "fid": l.fid, "fid_bound": l.fid_bound, "mean_term": l.mean_term,
            "trace_vision": l.trace_vision, "trace_text": l.trace_text, "trace_sqrt": l.trace_sqrt,
            "alpha": l.alpha, "vision_rows": l.vision_rows, "text_rows": l.text_rows,
            "vision_outliers": l.vision_outliers, "text_outliers": l.text_outliers, "exact": l.exact}


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
        self._impl.add(int(index), rows, _mask(vision_mask, "vision_mask"),
                       None if text_mask is None else _mask(text_mask, "text_mask"))

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
            if self._impl.wants(k):
                self._impl.add(k, h, vm, tm)
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
        """The Result (once done)."""
        r = self._impl.result()
        return Result({"mir": r.mir, "fid_sum": r.fid_sum, "sqrt": self.sqrt, "outliers": self.outliers,
                       "precision": self.precision, "hidden_size": self.hidden_size,
                       "layers": [_layer_dict(l) for l in r.layers]})


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
        _mir._run_program(["compute", *[os.fspath(p) for p in paths], "--json", out, "--quiet",
                           *_option_args(options)])
        with open(out) as f:
            return Result(json.load(f))
