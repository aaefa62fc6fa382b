"""Forward hooks that feed a mir.Accumulator from a LLaMA-family decoder during
an ordinary forward pass (no output_hidden_states, no copies, no dumps).

Indexing follows Hugging Face's ``output_hidden_states``: index 0 is the input
of the first decoder layer (the embeddings; for LLaVA, with the image
features merged in), index i (1 <= i < K) the output of decoder layer i - 1,
and index K the output of the final norm (HF replaces the last layer's output
by its normed value). Only the indices the accumulator wants in the pass in
progress are hooked; the rows are read in place.

    acc = mir.Accumulator(num_indices=len(layers) + 1, hidden_size=d)
    with mir.HiddenStateHook(model, acc, image_token_id=cfg.image_token_index) as hook:
        for _ in acc.passes():
            for sample in data:
                hook.set_sample(input_ids=sample["input_ids"])   # or vision_mask=..., text_mask=...
                model(**sample)
    res = acc.result()
"""
import numpy as np

from ._mir import ArgumentError, ShapeError


def _find_decoder(model):
    """The module holding the decoder's `layers` (a ModuleList) and final `norm`: the one with most layers."""
    import torch
    best = None
    for name, m in model.named_modules():
        layers = getattr(m, "layers", None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers) > 0 and isinstance(
                getattr(m, "norm", None), torch.nn.Module):
            if best is None or len(layers) > len(best[1].layers):
                best = (name, m)
    if best is None:
        raise ArgumentError(f"HiddenStateHook: no decoder found in {type(model).__name__} (a module with `layers`, a "
                            "ModuleList, and a final `norm`, as Hugging Face builds LLaMA-family models); give "
                            "layers= and norm= explicitly")
    return best[1]


def _as_mask(m, what, batch, tokens):
    """[B, T] bool array from a [T] or [B, T] mask (tensor, array or list)."""
    if hasattr(m, "detach"):
        m = m.detach().cpu().numpy()
    a = np.asarray(m)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape != (batch, tokens):
        raise ShapeError(f"HiddenStateHook: {what} of shape {list(np.shape(m))} for hidden states of {batch} sequence(s) "
                         f"of {tokens} tokens; a mask is [T] or [B, T]")
    if a.dtype != np.bool_ and a.dtype != np.uint8:
        raise ArgumentError(f"HiddenStateHook: {what}: dtype {a.dtype}; a mask is bool or uint8")
    return np.ascontiguousarray(a.astype(np.bool_))


def image_token_masks(input_ids, image_token_id, tokens):
    """The official protocol's positions (SPEC §6) for one sequence of `tokens` hidden-state positions:
    vision = the image block, text = every position after it (before it: in neither). Either the input ids
    hold the image block already (one image token id per patch, as recent Hugging Face processors expand it),
    or one image token that the model expands to tokens - len(input_ids) + 1 positions (LLaVA's own code,
    older Hugging Face). Returns (vision, text) bool arrays of length `tokens`. For one image these are the
    masks examples/python/mir_protocol.py writes into dumps (there the block length is given, here it is
    inferred from the two lengths)."""
    if hasattr(input_ids, "detach"):
        input_ids = input_ids.detach().cpu().numpy()
    ids = np.asarray(input_ids).reshape(-1)
    at = np.flatnonzero(ids == image_token_id)
    if at.size == 0:
        raise ArgumentError(f"HiddenStateHook: no image token (id {image_token_id}) in the input ids")
    vision = np.zeros(tokens, np.bool_)
    text = np.zeros(tokens, np.bool_)
    if ids.size == tokens:
        if at[-1] - at[0] + 1 != at.size:
            raise ArgumentError(f"HiddenStateHook: the image tokens (id {image_token_id}) are not one block "
                                f"(positions {at[0]}..{at[-1]}, {at.size} of them)")
        vision[at] = True
        text[at[-1] + 1:] = True
    elif at.size == 1 and tokens > ids.size:
        n = tokens - ids.size + 1
        vision[at[0]:at[0] + n] = True
        text[at[0] + n:] = True
    else:
        raise ShapeError(f"HiddenStateHook: {ids.size} input ids with {at.size} image token(s) do not explain "
                         f"{tokens} hidden-state positions")
    return vision, text


class HiddenStateHook:
    """Feeds `accumulator` from `model`'s forward passes (see the module's doc).

    model: a LLaMA-family model as Hugging Face builds it (LlamaForCausalLM, LlavaForConditionalGeneration,
    ...) or any module with a decoder holding `layers` and `norm`; or give layers= (the decoder layers, in
    order) and norm= (the final norm). Each sample's positions come from set_sample(): masks, or input_ids
    with image_token_id (the official protocol, SPEC §6). Only the first forward after set_sample() is
    counted (the prefill; a generate() loop's later steps are ignored). A batch of B sequences is B samples
    (masks [B, T]). Hooks are registered at construction (or on __enter__ after remove()) and removed by
    remove() / on leaving a `with` block, which restores the model. copy_to_host=True copies hidden states on
    a GPU to the host, one layer at a time (until the CUDA backend exists, the way to hook a model on a GPU;
    without it such tensors are an error).
    """

    def __init__(self, model, accumulator, image_token_id=None, layers=None, norm=None, copy_to_host=False):
        if (layers is None) != (norm is None):
            raise ArgumentError("HiddenStateHook: give both layers= and norm=, or neither")
        if layers is None:
            dec = _find_decoder(model)
            layers, norm = dec.layers, dec.norm
        self.model, self.accumulator = model, accumulator
        self.layers, self.norm = list(layers), norm
        self.image_token_id = image_token_id
        self.copy_to_host = bool(copy_to_host)
        if len(self.layers) + 1 != accumulator.num_indices:
            raise ShapeError(f"HiddenStateHook: the model has {len(self.layers)} decoder layers, i.e. "
                             f"{len(self.layers) + 1} hidden-state indices; the accumulator has "
                             f"{accumulator.num_indices}")
        self._handles = []
        self._masks = None  # (vision [B, T], text [B, T] or None), or input ids awaiting the length
        self._ids = None
        self._fed = set()
        self._counted = False
        self._resolved = None
        self.samples = 0  # samples fed in the pass in progress
        self._pass = accumulator.current_pass
        self.register()

    # ---- registration ----

    def register(self):
        """Registers the hooks (done by the constructor; again after remove())."""
        if self._handles:
            return
        try:  # torch >= 2.0: the first layer's input also when given as hidden_states=...
            h = self.layers[0].register_forward_pre_hook(self._pre_first, with_kwargs=True)
        except TypeError:  # torch 1.13: positional arguments only (how Hugging Face calls its layers)
            h = self.layers[0].register_forward_pre_hook(lambda m, args: self._pre_first(m, args, {}))
        self._handles.append(h)
        for i, layer in enumerate(self.layers):
            self._handles.append(layer.register_forward_hook(self._post(i + 1, is_norm=False)))
        self._handles.append(self.norm.register_forward_hook(self._post(len(self.layers), is_norm=True)))

    def remove(self):
        """Removes every hook: the model is as it was."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        self.register()
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    # ---- samples ----

    def set_sample(self, vision_mask=None, text_mask=None, input_ids=None):
        """The positions of the next forward's sample(s): vision_mask (and optionally text_mask; without it
        every non-vision position is text), [T] or [B, T]; or input_ids (with image_token_id given) for the
        official protocol."""
        self._check_complete()
        if self.accumulator.current_pass != self._pass:
            self._pass, self.samples = self.accumulator.current_pass, 0
        if input_ids is not None:
            if vision_mask is not None or text_mask is not None:
                raise ArgumentError("HiddenStateHook.set_sample: give masks or input_ids, not both")
            if self.image_token_id is None:
                raise ArgumentError("HiddenStateHook.set_sample: input_ids need image_token_id= at construction")
            ids = input_ids.detach().cpu().numpy() if hasattr(input_ids, "detach") else np.asarray(input_ids)
            self._ids, self._masks = ids.reshape(1, -1) if ids.ndim == 1 else ids, None
        elif vision_mask is not None:
            self._ids, self._masks = None, (vision_mask, text_mask)
        else:
            raise ArgumentError("HiddenStateHook.set_sample: give vision_mask= or input_ids=")
        self._fed, self._counted, self._resolved = set(), False, None

    def _check_complete(self):
        """The previous sample's forward reached the final norm (else it was cut short: its rows are partial)."""
        if self._fed and not self._counted:
            raise ArgumentError(f"HiddenStateHook: the last forward fed hidden-state indices {sorted(self._fed)} but "
                                "never reached the final norm (a forward that stopped early)")

    def _positions(self, hidden):
        """(vision [B, T], text [B, T] or None) for hidden states [B, T, d]."""
        if self._resolved is not None:
            return self._resolved
        b, t = int(hidden.shape[0]), int(hidden.shape[1])
        if self._ids is not None:
            if self._ids.shape[0] != b:
                raise ShapeError(f"HiddenStateHook: input_ids of {self._ids.shape[0]} sequence(s) for a batch of {b}")
            pairs = [image_token_masks(self._ids[i], self.image_token_id, t) for i in range(b)]
            vm, tm = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        else:
            vm = _as_mask(self._masks[0], "vision_mask", b, t)
            tm = None if self._masks[1] is None else _as_mask(self._masks[1], "text_mask", b, t)
        # Row by row, contiguous: what Accumulator._add takes without converting again per layer.
        self._resolved = [(np.ascontiguousarray(vm[i]), None if tm is None else np.ascontiguousarray(tm[i]))
                          for i in range(b)]
        return self._resolved

    def _feed(self, index, hidden):
        if self._ids is None and self._masks is None:
            raise ArgumentError("HiddenStateHook: a forward pass without set_sample() first (the positions of "
                                "vision and text are not known)")
        if self._counted:
            return  # a later forward of the same sample (generate's decoding steps): not counted
        if hidden.dim() != 3:
            raise ShapeError(f"HiddenStateHook: hidden-state index {index}: a tensor of shape {list(hidden.shape)}; "
                             "a decoder's hidden states are [B, T, d]")
        self._fed.add(index)
        if not self.accumulator.wants(index):
            return
        rows = self._positions(hidden)
        if self.copy_to_host and hidden.device.type != "cpu":
            hidden = hidden.detach().to("cpu")
        hidden = hidden.detach()
        for i, (vm, tm) in enumerate(rows):
            self.accumulator._add(index, hidden[i], vm, tm)

    def _pre_first(self, module, args, kwargs):
        h = args[0] if args else kwargs.get("hidden_states")
        if h is not None and hasattr(h, "dim"):
            self._feed(0, h)
        return None

    def _post(self, index, is_norm):
        last = len(self.layers)

        def hook(module, args, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            if index == last and not is_norm:
                return None  # index K is the final norm's output, not the last layer's
            self._feed(index, h)
            if is_norm and not self._counted:
                wanted = {k for k in range(self.accumulator.num_indices) if self.accumulator.wants(k)}
                missing = sorted(wanted - self._fed)
                if missing:
                    raise ArgumentError(f"HiddenStateHook: the forward fed hidden-state indices {sorted(self._fed)} "
                                        f"but not {missing} (layers skipped, or the first layer's input not seen)")
                self._counted = True
                self.samples += int(h.shape[0])
                self.accumulator._samples += int(h.shape[0])
            return None

        return hook
