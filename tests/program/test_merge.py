"""Sharded MIR: `mir compute SHARD --save-state S [--resume G]` and `mir merge`
(pytest; ctest label `program`).

The dumps are split into shards; every pass, each shard's share is computed
and saved, the shares are merged in shard order, and after the last pass the
merge reports the MIR. It must equal one `mir compute` over all the files to
1e-12 relative (every policy, dtype, precision, square root), say where its
rows came from, and refuse states that do not belong together.
"""
import json
import os
import struct

from test_program import run, compute_json, program_paths  # noqa: F401  (the fixture sets MIR)
import test_program


def dump_files(name):
    d = os.path.join(test_program.GOLDEN, name)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".safetensors", ".npz")))


def shards_of(files, parts):
    n = len(files)
    return [files[i * n // parts:(i + 1) * n // parts] for i in range(parts)]


def state_meta(path):
    blob = open(path, "rb").read(8 + 10 ** 7)
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(json.loads(blob[8:8 + n])["__metadata__"]["mir_state"])


def sharded(tmp, shards, first=(), report=()):
    """Runs the protocol; returns (the merged JSON, passes, the last merged state)."""
    state, p = None, 1
    while True:
        parts = []
        for i, files in enumerate(shards):
            s = os.path.join(tmp, f"shard{i}_pass{p}.mirstate")
            run("compute", *files, "--save-state", s, "--quiet",
                *(["--resume", state] if state else list(first)))
            parts.append(s)
        meta = state_meta(parts[0])
        assert meta["pass"] == p and meta["format"] == "mir-layer-passes", meta
        g = os.path.join(tmp, f"merged_pass{p}.mirstate")
        if p >= 2 and p >= meta["passes_expected"]:
            out = run("merge", *parts, "--save-state", g, "--json", "-", "--quiet", *report)
            return json.loads(out.stdout), p, g
        run("merge", *parts, "--save-state", g, "--quiet")
        state, p = g, p + 1
        assert p <= 6


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def same_result(merged, single, tol=1e-12):
    assert rel(merged["mir"], single["mir"]) <= tol, (merged["mir"], single["mir"])
    assert len(merged["layers"]) == len(single["layers"])
    for a, b in zip(merged["layers"], single["layers"]):
        assert a["layer"] == b["layer"]
        for k in ("vision_rows", "text_rows", "vision_outliers", "text_outliers"):
            assert a[k] == b[k], (k, a, b)
        assert rel(a["alpha"], b["alpha"]) <= 1e-14, (a, b)
        assert rel(a["fid"], b["fid"]) <= tol, (a["layer"], a["fid"], b["fid"], rel(a["fid"], b["fid"]))


def test_merged_shards_equal_one_run_for_every_policy_and_dtype(tmp, result_schema):
    # f16 and bf16 rows: 2 passes; f32 rows: 4 (the exact median needs more digits); npz shards too.
    for name, passes in (("f16_small", 2), ("bf16_small", 2), ("f32_wide", 4), ("f16_small_npz", 2)):
        files = dump_files(name)
        for policy in ("replace-median", "drop", "none"):
            sub = os.path.join(tmp, f"{name}_{policy}")
            os.makedirs(sub)
            merged, p, _ = sharded(sub, shards_of(files, 2), first=["--outliers", policy])
            single = compute_json(*files, "--outliers", policy)
            same_result(merged, single)
            # replace-median on f32 rows needs 4 passes; without outliers to replace, 2 suffice.
            assert p == (passes if policy == "replace-median" else 2), (name, policy, p)
            result_schema("merge", merged)
            assert merged["outliers"] == policy and merged["options"]["states"][0].endswith("shard0_pass%d.mirstate" % p)
            # Where the rows came from: every file, in shard order.
            assert [f["path"] for f in merged["inputs"]["files"]] == files
            assert merged["inputs"]["samples"] == single["inputs"]["samples"]
            assert merged["inputs"]["vision_rows"] == single["inputs"]["vision_rows"]


def test_three_uneven_shards_fp32_and_every_layer(tmp):
    files = dump_files("f32_wide")
    shards = [files[:1], files[1:3], files[3:]]
    merged, _, _ = sharded(tmp, shards, first=["--precision", "fp32", "--layers", "all"])
    single = compute_json(*files, "--precision", "fp32", "--layers", "all")
    assert merged["precision"] == "fp32" and [l["layer"] for l in merged["layers"]] == [0, 1, 2, 3]
    same_result(merged, single, tol=1e-5)  # fp32 accumulation: Chan's merge rounds differently, in fp32


def test_every_square_root_and_a_finished_state_reported_again(tmp):
    files = dump_files("f16_small")
    merged, _, final = sharded(tmp, shards_of(files, 3), report=["--sqrt", "newton-schulz"])
    same_result(merged, compute_json(*files, "--sqrt", "newton-schulz"))
    # The merged state after the last pass is kept: reported again with any square root, without the shards.
    for sqrt in ("exact", "denman-beavers", "official-fast"):
        again = json.loads(run("merge", final, "--sqrt", sqrt, "--json", "-", "--quiet").stdout)
        same_result(again, compute_json(*files, "--sqrt", sqrt))
    table = run("merge", final).stdout
    assert "MIR = " in table and "6 file(s)" in table, table


def test_states_that_do_not_belong_together_are_refused(tmp):
    files = dump_files("f16_small")
    a, b = shards_of(files, 2)
    s = lambda n: os.path.join(tmp, n)  # noqa: E731
    run("compute", *a, "--save-state", s("a1"), "--quiet")
    run("compute", *b, "--save-state", s("b1"), "--quiet")
    run("compute", *b, "--save-state", s("b1_drop"), "--outliers", "drop", "--quiet")
    run("compute", *b, "--save-state", s("b1_layers"), "--layers", "1,2", "--quiet")
    p = run("merge", s("a1"), s("b1_drop"), "--save-state", s("g"), ok=False)
    assert s("b1_drop") in p.stderr and "outliers drop" in p.stderr and "replace-median" in p.stderr, p.stderr
    p = run("merge", s("a1"), s("b1_layers"), "--save-state", s("g"), ok=False)
    assert "layers 1,2" in p.stderr and "1,2,3,4" in p.stderr, p.stderr
    # Another pass follows: the merged state must be saved, and there is no result yet.
    p = run("merge", s("a1"), s("b1"), ok=False)
    assert p.returncode == 2 and "--save-state" in p.stderr and "pass 1 of 2" in p.stderr, p.stderr
    p = run("merge", s("a1"), s("b1"), "--save-state", s("g"), "--json", "-", ok=False)
    assert p.returncode == 2 and "--json" in p.stderr, p.stderr
    assert not os.path.exists(s("g"))  # nothing written by a refused merge
    run("merge", s("a1"), s("b1"), "--save-state", s("g1"), "--quiet")
    # A pass-2 share next to a pass-1 share.
    run("compute", *a, "--resume", s("g1"), "--save-state", s("a2"), "--quiet")
    p = run("merge", s("a2"), s("b1"), "--save-state", s("g"), ok=False)
    assert "pass 1" in p.stderr and "pass 2" in p.stderr and s("b1") in p.stderr, p.stderr
    # Pass 2 over other files than pass 1 read (here: the shards swapped), caught at the merge.
    run("compute", *b, "--resume", s("g1"), "--save-state", s("b2"), "--quiet")
    p = run("merge", s("b2"), s("a2"), "--json", "-", ok=False)
    assert "first difference, file 1" in p.stderr and b[0] in p.stderr and a[0] in p.stderr, p.stderr
    assert json.loads(run("merge", s("a2"), s("b2"), "--json", "-", "--quiet").stdout)["mir"] > 0
    # A resumed pass keeps the state's settings; other dumps are refused naming both files.
    p = run("compute", *a, "--resume", s("g1"), "--save-state", s("x"), "--outliers", "none", ok=False)
    assert p.returncode == 2 and "--outliers none differs" in p.stderr, p.stderr
    wide = dump_files("f32_wide")
    p = run("compute", *wide, "--resume", s("g1"), "--save-state", s("x"), ok=False)
    assert "hidden size 128" in p.stderr and s("g1") in p.stderr and "64" in p.stderr, p.stderr
    # A dump is not a state; a state is not a dump.
    p = run("merge", files[0], "--save-state", s("g"), ok=False)
    assert "not a mir state file" in p.stderr and files[0] in p.stderr, p.stderr
    p = run("compute", s("a1"), ok=False)
    assert s("a1") in p.stderr, p.stderr
    # --save-state with --json: the result comes from mir merge.
    p = run("compute", *a, "--save-state", s("y"), "--json", "-", ok=False)
    assert p.returncode == 2 and "mir merge" in p.stderr, p.stderr
