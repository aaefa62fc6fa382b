"""mir.HiddenStateHook on a tiny LLaVA-style LLaMA decoder (tiny_llava.py): the
hooks during an ordinary forward, the model's own output_hidden_states through
add_sample, the same hidden states as dumps through `mir compute`, and a
NumPy oracle give the same MIR; state_dict / merge and two torch.distributed
processes (gloo) give the single-process result. Run by ctest (label
`python`) with PYTHONPATH at the built package and MIR_PROGRAM at the program.
"""
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

import mir

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import fid_none  # noqa: E402
from tiny_llava import IMAGE_TOKEN, TinyLlava, sample_inputs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K, D, PATCHES, PREFIX = 4, 64, 12, 3


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def protocol_masks(tokens):
    """SPEC §6 for the tiny model's samples: the image block is vision, what follows it text, the prefix neither."""
    vm, tm = np.zeros(tokens, bool), np.zeros(tokens, bool)
    vm[PREFIX:PREFIX + PATCHES] = True
    tm[PREFIX + PATCHES:] = True
    return vm, tm


def run_hooks(model, data, **acc_options):
    acc = mir.Accumulator(K + 1, D, **acc_options)
    with torch.no_grad(), mir.HiddenStateHook(model, acc, image_token_id=IMAGE_TOKEN) as hook:
        for _ in acc.passes():
            for ids, feats in data:
                hook.set_sample(input_ids=ids)
                model(ids, feats)
    return acc


def hidden_states(model, data):
    with torch.no_grad():
        return [model(ids, feats, output_hidden_states=True)[1] for ids, feats in data]


def run_add_sample(states, **acc_options):
    acc = mir.Accumulator(K + 1, D, **acc_options)
    for _ in acc.passes():
        for hs in states:
            vm, tm = protocol_masks(hs[0].shape[1])
            acc.add_sample(hs, vm, tm)
    return acc


def write_dumps(states, directory):
    """Each sample as a safetensors dump: hidden_states [K + 1, T, d] in the model's dtype, vision_mask, text_mask."""
    os.makedirs(directory, exist_ok=True)
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    for i, hs in enumerate(states):
        h = torch.cat(hs, 0).contiguous()
        raw = (h.view(torch.int16) if h.dtype == torch.bfloat16 else h).numpy().tobytes()
        vm, tm = protocol_masks(h.shape[1])
        tensors = [("hidden_states", names[h.dtype], list(h.shape), raw),
                   ("vision_mask", "U8", [h.shape[1]], vm.astype(np.uint8).tobytes()),
                   ("text_mask", "U8", [h.shape[1]], tm.astype(np.uint8).tobytes())]
        header, off, payload = {}, 0, b""
        for name, dt, shape, data in tensors:
            header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
            off += len(data)
            payload += data
        hb = json.dumps(header).encode()
        with open(os.path.join(directory, f"sample_{i:03d}.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + payload)


def program_json(directory, *args):
    out = subprocess.run([os.environ["MIR_PROGRAM"], "compute", directory, "--json", "-", "--quiet", *args],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def oracle_none(states):
    """MIR with outliers='none' in NumPy (oracle.py), SPEC §6's positions."""
    total = 0.0
    for k in range(1, K + 1):
        v, t = [], []
        for hs in states:
            x = hs[k][0].double().numpy()
            vm, tm = protocol_masks(x.shape[0])
            v.append(x[vm])
            t.append(x[tm])
        total += fid_none(np.concatenate(v), np.concatenate(t))
    return np.log10(total)


def schema_validator():
    import jsonschema
    schemas = os.path.join(ROOT, "docs", "schema")
    store = {}
    for f in os.listdir(schemas):
        s = json.load(open(os.path.join(schemas, f)))
        store[s["$id"]] = s
    schema = json.load(open(os.path.join(schemas, "compute.schema.json")))
    return jsonschema.Draft202012Validator(schema, resolver=jsonschema.RefResolver.from_schema(schema, store=store))


def strip_layers(doc):  # wall_s: each run's own timing
    return [{k: v for k, v in layer.items() if k != "wall_s"} for layer in doc["layers"]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_hooks_equal_hidden_states_dumps_and_an_oracle(dtype, tmp_path):
    if dtype == torch.float16:  # CPU torch 1.13 has no f16 matmul: f16 hidden states, f32 weights
        model = TinyLlava(d=D, layers=K, hidden_dtype=torch.float16).eval()
    else:
        model = TinyLlava(d=D, layers=K).to(dtype).eval()
    data = sample_inputs(14, patches=PATCHES, prefix=PREFIX)
    states = hidden_states(model, data)
    assert len(states[0]) == K + 1 and states[0][1].dtype == dtype

    hooked = run_hooks(model, data)
    direct = run_add_sample(states)
    a, b = hooked.result(), direct.result()
    assert a.mir == b.mir and [x.fid for x in a.layers] == [x.fid for x in b.layers]  # the same rows, in order
    assert [x.vision_rows for x in a.layers] == [14 * PATCHES] * K
    assert sum(x.vision_outliers + x.text_outliers for x in a.layers) > 0  # the 3σ rule had work to do

    write_dumps(states, str(tmp_path))
    prog = program_json(str(tmp_path))
    assert rel(a.mir, prog["mir"]) < 1e-12
    doc = a.to_dict()
    errors = [f"{list(e.path)}: {e.message}" for e in schema_validator().iter_errors(doc)]
    assert not errors
    assert doc["inputs"]["samples"] == 14 and doc["inputs"]["vision_rows"] == 14 * PATCHES
    assert doc["inputs"]["files"][0]["dtype"] == {torch.float32: "F32", torch.float16: "F16",
                                                  torch.bfloat16: "BF16"}[dtype]
    assert {k: v for k, v in doc["inputs"].items() if k != "files"} == \
        {k: v for k, v in prog["inputs"].items() if k != "files"}
    for mine, theirs in zip(strip_layers(doc), strip_layers(prog)):
        assert mine.keys() == theirs.keys()
        for key in mine:
            if isinstance(mine[key], float):
                assert rel(mine[key], theirs[key]) < 1e-10, key
            else:
                assert mine[key] == theirs[key], key
    assert doc["options"]["outliers"] == prog["options"]["outliers"] and doc["options"].keys() == prog["options"].keys()

    kept = run_hooks(model, data, memory="rows").result()
    assert rel(kept.mir, a.mir) < 1e-12

    none = run_hooks(model, data, outliers="none").result()
    assert rel(none.mir, oracle_none(states)) < 1e-9
    assert rel(none.mir, program_json(str(tmp_path), "--outliers", "none")["mir"]) < 1e-12


def test_removing_the_hooks_restores_the_model():
    model = TinyLlava(d=D, layers=K).eval()
    ids, feats = sample_inputs(1, patches=PATCHES, prefix=PREFIX)[0]
    with torch.no_grad():
        before = model(ids, feats)[0]
    counts = lambda: sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())  # noqa: E731
    acc = mir.Accumulator(K + 1, D)
    hook = mir.HiddenStateHook(model, acc, image_token_id=IMAGE_TOKEN)
    assert counts() == K + 2
    with torch.no_grad():
        with pytest.raises(mir.ArgumentError, match="without set_sample"):
            model(ids, feats)
        hook.set_sample(input_ids=ids)
        assert torch.equal(model(ids, feats)[0], before)  # the hooks only read
        model(ids, feats)  # a second forward of the same sample (a decoding step): not counted
    assert hook.samples == 1 and acc.samples == 1
    hook.remove()
    assert counts() == 0
    with torch.no_grad():
        assert torch.equal(model(ids, feats)[0], before)
    with pytest.raises(mir.ShapeError, match="4 decoder layers"):
        mir.HiddenStateHook(model, mir.Accumulator(K, D))
    with mir.HiddenStateHook(model, mir.Accumulator(K + 1, D), image_token_id=49) as h, torch.no_grad():
        h.set_sample(input_ids=torch.full_like(ids, 5))
        with pytest.raises(mir.ArgumentError, match="no image token"):
            model(ids, feats)
    with mir.HiddenStateHook(model, mir.Accumulator(K + 1, D)) as h, torch.no_grad():
        h.set_sample(vision_mask=np.ones(7, bool))
        with pytest.raises(mir.ShapeError, match="vision_mask of shape"):
            model(ids, feats)
    assert counts() == 0


def feed_pass(acc, states):
    for hs in states:
        vm, tm = protocol_masks(hs[0].shape[1])
        acc.add_sample(hs, vm, tm)


def test_state_dict_and_merge_give_the_single_process_result():
    model = TinyLlava(d=D, layers=K).to(torch.bfloat16).eval()
    states = hidden_states(model, sample_inputs(12, patches=PATCHES, prefix=PREFIX))
    one = run_add_sample(states)
    a, b = mir.Accumulator(K + 1, D), mir.Accumulator(K + 1, D)
    passes = 0
    while not a.done:
        feed_pass(a, states[:7])
        feed_pass(b, states[7:])
        saved = io.BytesIO()
        torch.save(b.state_dict(), saved)  # b's share travels as a file would
        saved.seek(0)
        c = mir.Accumulator(K + 1, D)
        c.load_state_dict(torch.load(saved))
        a.merge(c)
        b.load_state_dict(a.state_dict())  # every participant continues from the merged state
        a.end_pass()
        b.end_pass()
        passes += 1
    assert passes >= 2 and b.done
    assert rel(a.result().mir, one.result().mir) < 1e-12 and a.result().mir == b.result().mir
    assert a.to_dict()["inputs"]["samples"] == 12
    with pytest.raises(mir.ArgumentError, match="hidden_size"):
        mir.Accumulator(K + 1, D + 1).load_state_dict(a.state_dict())
    with pytest.raises(mir.ArgumentError, match="memory='rows'"):
        mir.Accumulator(K + 1, D, memory="rows").state_dict()
    bad = a.state_dict()
    bad["states"][0] = bad["states"][0][:-9]
    with pytest.raises(mir.ArgumentError, match="layer 1"):
        mir.Accumulator(K + 1, D).load_state_dict(bad)


def _gloo_worker(rank, world, init, out, dtype_name):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    model = TinyLlava(d=D, layers=K).to(getattr(torch, dtype_name)).eval()
    data = sample_inputs(15, patches=PATCHES, prefix=PREFIX)
    share = data[rank * 8:(rank + 1) * 8]  # rank 0: samples 0-7, rank 1: 8-14 (rank order = sample order)
    acc = mir.Accumulator(K + 1, D)
    with torch.no_grad(), mir.HiddenStateHook(model, acc, image_token_id=IMAGE_TOKEN) as hook:
        for _ in acc.passes():
            for ids, feats in share:
                hook.set_sample(input_ids=ids)
                model(ids, feats)
            acc.all_reduce()
    doc = acc.to_dict()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"mir": acc.result().mir, "fids": [x.fid for x in acc.result().layers],
                   "samples": doc["inputs"]["samples"], "outliers": [x.text_outliers for x in acc.result().layers]}, f)
    dist.destroy_process_group()


def test_two_processes_on_gloo_give_the_single_process_result(tmp_path):
    import torch.multiprocessing as mp
    init = "file://" + str(tmp_path / "rendezvous")
    mp.spawn(_gloo_worker, args=(2, init, str(tmp_path), "bfloat16"), nprocs=2, join=True)
    ranks = [json.load(open(tmp_path / f"rank{r}.json")) for r in range(2)]
    model = TinyLlava(d=D, layers=K).to(torch.bfloat16).eval()
    one = run_hooks(model, sample_inputs(15, patches=PATCHES, prefix=PREFIX)).result()
    for r in ranks:
        assert rel(r["mir"], one.mir) < 1e-12
        assert all(rel(x, y) < 1e-12 for x, y in zip(r["fids"], [x.fid for x in one.layers]))
        assert r["outliers"] == [x.text_outliers for x in one.layers] and r["samples"] == 15
    assert ranks[0] == ranks[1]  # every rank holds the same numbers


def test_a_tensor_off_the_host_is_refused():
    acc = mir.Accumulator(K + 1, D)
    t = torch.empty(5, D, device="meta")
    with pytest.raises(mir.ArgumentError, match="device 'meta'.*CUDA backend is not built"):
        acc.add(1, t, np.ones(5, bool))
    with pytest.raises(mir.ArgumentError, match="not initialised"):
        acc.all_reduce()
