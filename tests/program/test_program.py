"""End-to-end tests of the `mir` program (pytest; ctest label `program`).

Runs the built binary on the golden dumps and on files made here, and checks
its JSON against tests/data/golden/expected.json (an independent float64
oracle), its errors on malformed input, the synthetic generator's
determinism and the SVG plot (rendered with rsvg-convert, colours counted
with ImageMagick's identify). pytest and the standard library only.

usage: python3 -m pytest tests/program --mir MIR_BINARY --data DATA_DIR [-k NAME]
(ctest runs each test on its own: ctest -L program.)
"""
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess

import pytest

# Set from --mir / --data (conftest.py) before the first test runs.
MIR = DATA = GOLDEN = None


@pytest.fixture(scope="session", autouse=True)
def program_paths(mir_paths):  # conftest.py
    global MIR, DATA, GOLDEN
    MIR, DATA, GOLDEN = mir_paths


def run(*args, ok=True):
    p = subprocess.run([MIR, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise AssertionError(f"mir {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    if not ok and p.returncode == 0:
        raise AssertionError(f"mir {' '.join(args)} should have failed:\n{p.stdout}")
    return p


def compute_json(*args):
    p = run("compute", *args, "--json", "-", "--quiet")
    return json.loads(p.stdout)  # stdout holds the JSON and nothing else


PROVENANCE = ("command_line", "started_at", "host", "blas", "options", "threads", "inputs")


def numbers(j):
    """A result without its provenance (what was run, where, when, how long): the numbers."""
    out = {k: v for k, v in j.items() if k not in PROVENANCE}
    out["layers"] = [{k: v for k, v in l.items() if k != "wall_s"} for l in j["layers"]]
    return out


def close(a, b, rel):
    return abs(a - b) <= rel * abs(b)


def test_golden_all_policies_and_sqrt():
    expected = json.load(open(os.path.join(GOLDEN, "expected.json")))
    for case, exp in expected.items():
        if "same_as" in exp:  # presplit / npz variants: see the next test
            exp = dict(expected[exp["same_as"]])
        for policy in ("replace-median", "drop", "none"):
            for sq in ("exact",):  # reference-fast is bench-sqrt's only (tests/unit/test_golden.cpp checks it)
                j = compute_json(os.path.join(GOLDEN, case), "--outliers", policy, "--sqrt", sq)
                e = exp[f"{policy}/{sq}"]
                assert [l["layer"] for l in j["layers"]] == exp["layers"], (case, j["layers"])
                for l, want in zip(j["layers"], e["per_layer"]):
                    assert close(l["fid"], want, 1e-6), (case, policy, sq, l["layer"], l["fid"], want)
                    terms = l["mean_term"] + l["trace_vision"] + l["trace_text"] - 2 * l["trace_sqrt"]
                    assert close(terms, l["fid"], 1e-9) or abs(terms - l["fid"]) < 1e-12, (case, l)
                assert abs(j["mir"] - e["mir"]) <= 1e-7, (case, policy, sq, j["mir"], e["mir"])
                assert j["sqrt"] == sq and j["outliers"] == policy
                assert j["files"] == len(os.listdir(os.path.join(GOLDEN, case)))
                assert j["hidden_size"] == exp["generator"]["d"]
                for l in j["layers"]:
                    if policy == "none":
                        assert l["vision_outliers"] == 0 and l["text_outliers"] == 0
                    if policy == "drop":  # rows that entered the statistics, after dropping
                        assert l["vision_rows"] + l["vision_outliers"] == exp["generator"]["samples"] * exp["generator"]["vis"]
                    else:
                        assert l["vision_rows"] == exp["generator"]["samples"] * exp["generator"]["vis"]


def test_golden_newton_schulz_matches_exact():
    expected = json.load(open(os.path.join(GOLDEN, "expected.json")))
    for case, exp in expected.items():
        if "same_as" in exp:
            continue
        for policy in ("replace-median", "drop", "none"):
            e = compute_json(os.path.join(GOLDEN, case), "--outliers", policy)
            n = compute_json(os.path.join(GOLDEN, case), "--outliers", policy, "--sqrt", "newton-schulz")
            assert n["sqrt"] == "newton-schulz" and n["sqrt_tol"] == 1e-10 and n["sqrt_max_iter"] == 100
            for a, b in zip(n["layers"], e["layers"]):
                assert close(a["fid"], b["fid"], 1e-6), (case, policy, a["layer"], a["fid"], b["fid"])
                assert 0 < a["sqrt_iterations"] < 100 and 0 <= a["sqrt_residual"] <= 1e-10, (case, a)
                assert a["sqrt_status"] == "converged" and a["sqrt_route"] == "symmetric-form"
            assert "sqrt_iterations" not in e["layers"][0] and "sqrt_residual" not in e["layers"][0]


def test_sqrt_methods_options_and_bench(tmp):
    d = os.path.join(GOLDEN, "f16_small")
    ref = compute_json(d)
    for sq in ("denman-beavers", "pade", "taylor"):
        p = subprocess.run([MIR, "compute", d, "--sqrt", sq, "--json", "-", "--quiet"], capture_output=True, text=True)
        if sq != "denman-beavers" and p.returncode != 0:
            # The fixed-degree approximants can be so far off that the FIDs sum to a negative number.
            assert "log10 needs a positive" in p.stderr, p.stderr
            continue
        assert p.returncode == 0, p.stderr
        j = json.loads(p.stdout)
        assert j["sqrt"] == sq and all(math.isfinite(l["fid"]) for l in j["layers"])
        assert all("sqrt_residual" in l for l in j["layers"])
        if sq == "denman-beavers":
            for a, b in zip(j["layers"], ref["layers"]):
                assert close(a["fid"], b["fid"], 1e-6), (a, b)
    j = compute_json(d, "--sqrt", "newton-schulz", "--sqrt-max-iter", "3")
    assert all(l["sqrt_status"] == "max-iter" and l["sqrt_iterations"] == 3 for l in j["layers"]), j["layers"]
    run("compute", d, "--sqrt", "official-literal", ok=False)
    out = os.path.join(tmp, "bench")
    run("bench-sqrt", "--out", out, "--dims", "16", "--kappas", "1e2,1e8", "--quiet")
    for f in ("sqrt_bench.csv", "sqrt_bench.json", "error_vs_time.svg", "error_vs_kappa.svg",
              "iterations_vs_kappa.svg", "time_vs_d.svg"):
        assert os.path.getsize(os.path.join(out, f)) > 200, f
    rows = json.load(open(os.path.join(out, "sqrt_bench.json")))["rows"]
    assert {r["pair"] for r in rows} == {"general", "commuting", "rank-deficient"}
    assert all(math.isfinite(r["value"]) for r in rows)
    for r in rows:
        if r["variant"] == "newton-schulz/symmetric/fp64" and r["kappa"] == 100:
            assert r["rel_error"] < 1e-12 and r["iterations"] > 0, r
        if r["variant"] == "reference-fast":
            assert r["rel_error"] > 0.1, r  # Tr(S1 S2) is not the trace square root
    dump = os.path.join(tmp, "bench-dump")
    run("bench-sqrt", "--out", dump, "--from-dump", d, "--layer", "2", "--quiet")
    rows = json.load(open(os.path.join(dump, "sqrt_bench.json")))["rows"]
    assert rows[0]["pair"] == "dump:layer2" and rows[0]["d"] == 64


def test_presplit_and_npz_give_f16_small():
    for policy in ("replace-median", "drop", "none"):
        ref = compute_json(os.path.join(GOLDEN, "f16_small"), "--outliers", policy)
        for other in ("f16_small_presplit", "f16_small_npz"):
            j = compute_json(os.path.join(GOLDEN, other), "--outliers", policy)
            for a, b in zip(j["layers"], ref["layers"]):
                assert close(a["fid"], b["fid"], 1e-12), (other, policy, a, b)
                assert a["vision_outliers"] == b["vision_outliers"]
            assert abs(j["mir"] - ref["mir"]) < 1e-12


def test_layers_option():
    d = os.path.join(GOLDEN, "f16_small")
    assert [l["layer"] for l in compute_json(d, "--layers", "all")["layers"]] == [0, 1, 2, 3, 4]
    assert [l["layer"] for l in compute_json(d, "--layers", "2-3")["layers"]] == [2, 3]
    assert [l["layer"] for l in compute_json(d, "--layers", "1,4")["layers"]] == [1, 4]
    p = run("compute", d, "--layers", "9", ok=False)
    assert "out of range" in p.stderr and "0..4" in p.stderr, p.stderr


def test_fp32_precision_close_to_fp64():
    d = os.path.join(GOLDEN, "bf16_small")
    a, b = compute_json(d), compute_json(d, "--precision", "fp32")
    assert abs(a["mir"] - b["mir"]) < 1e-4, (a["mir"], b["mir"])


def test_threads_give_the_same_numbers():
    d = os.path.join(GOLDEN, "f32_wide")
    a, b = compute_json(d), compute_json(d, "--threads", "3")
    assert numbers(a) == numbers(b) and a["threads"]["layer_workers"] != b["threads"]["layer_workers"]
    assert numbers(compute_json(d, "--threads", "auto", "--blas-threads", "auto")) == numbers(a)
    # More BLAS threads may sum in another order: equal to rounding.
    c = compute_json(d, "--threads", "1", "--blas-threads", "2")
    assert abs(c["mir"] - a["mir"]) <= 1e-12 * abs(a["mir"]), (a["mir"], c["mir"])
    for la, lc in zip(a["layers"], c["layers"]):
        assert abs(la["fid"] - lc["fid"]) <= 1e-10 * la["fid"] + la["fid_bound"], (la, lc)
    for bad in (["--threads", "0"], ["--threads", "3x"], ["--blas-threads", "0"], ["--blas-threads", "auto1"],
                ["--threads", "1025"]):
        p = run("compute", d, *bad, ok=False)
        assert p.returncode == 2, (bad, p.returncode)
        assert "auto or 1..1024" in p.stderr, (bad, p.stderr)


def test_table_formats_csv_and_markdown(tmp):
    import csv
    d = os.path.join(GOLDEN, "f16_small")
    j = compute_json(d)
    p = run("compute", d, "--format", "csv", "--plot", os.path.join(tmp, "p.svg"))
    lines = p.stdout.splitlines()
    table = list(csv.DictReader(l for l in lines if not l.startswith("#")))
    assert [int(r["layer"]) for r in table] == [l["layer"] for l in j["layers"]]
    for r, l in zip(table, j["layers"]):
        assert float(r["fid"]) == l["fid"] and float(r["alpha"]) == l["alpha"]  # every digit
        assert int(r["vis_rows"]) == l["vision_rows"] and int(r["txt_out"]) == l["text_outliers"]
    assert any(l.startswith("# MIR = ") and float(l.split("=")[1]) == j["mir"] for l in lines), lines
    assert "plot written" not in p.stdout and "plot written" in p.stderr  # not inside the CSV
    p = run("compute", d, "--format", "markdown", "--sqrt", "newton-schulz")
    rows = [l for l in p.stdout.splitlines() if l.startswith("|")]
    assert rows[0].startswith("| layer |") and "sqrt_status" in rows[0]
    assert set(rows[1].replace("|", "")) <= set("-:")  # the separator row
    assert len(rows) == 2 + len(j["layers"]) and f"**MIR = {j['mir']:.6f}**" in p.stdout
    assert run("compute", d, "--format", "table").stdout == run("compute", d).stdout
    out = os.path.join(tmp, "r.json")
    p = run("compute", d, "--format", "none", "--json", out, "--plot", os.path.join(tmp, "q.svg"))
    assert p.stdout == "" and "plot written" in p.stderr  # nothing on stdout; the files written
    assert json.load(open(out))["mir"] == j["mir"]
    p = run("compute", d, "--format", "xml", ok=False)
    assert p.returncode == 2 and "--format" in p.stderr


def test_man_page_is_generated_from_the_options(tmp):
    import re
    import shutil
    page = run("--man").stdout
    assert page.startswith(".\\\"") and ".TH MIR 1" in page and page.isascii()
    # Every option of every subcommand's --help is in the page (both come from one definition).
    for sub in ("compute", "synth", "inspect", "moca-init", "bench-sqrt", "merge", "track"):
        assert f'.SH "MIR {sub.replace("-", chr(92) + "-")}"' in page, sub
        for opt in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", run(sub, "--help").stdout)):
            assert opt.replace("-", "\\-") in page, (sub, opt)
    # groff renders it without a warning.
    assert shutil.which("groff"), "groff is not installed (Debian: groff-base)"
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=page, capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # mir --man FILE writes the same page to a file.
    out = os.path.join(tmp, "mir.1")
    run("--man", out)
    assert open(out).read() == page


def test_json_validates_against_the_published_schema_and_records_provenance(tmp, result_schema):
    validator = result_schema.validator("compute")
    a_dir, b_dir = os.path.join(GOLDEN, "f16_small"), os.path.join(GOLDEN, "bf16_small")
    runs = {}
    for name, args in {"default": [a_dir], "ns": [a_dir, "--sqrt", "newton-schulz", "--threads", "1"],
                       "fast": [a_dir, "--sqrt", "official-fast", "--outliers", "drop"],
                       "fp32": [b_dir, "--precision", "fp32", "--layers", "all"]}.items():
        j = compute_json(*args)
        errors = sorted(validator.iter_errors(j), key=lambda e: list(e.path))
        assert not errors, (name, [f"{list(e.path)}: {e.message}" for e in errors])
        runs[name] = j
    # Also a file written with --json FILE.
    out = os.path.join(tmp, "r.json")
    run("compute", a_dir, "--json", out, "--quiet")
    validator.validate(json.load(open(out)))
    # What was run: the command line, every option (defaults too), the inputs.
    d = runs["default"]
    assert d["command_line"][1:] == ["compute", a_dir, "--json", "-", "--quiet"]
    assert d["options"]["outliers"] == "replace-median" and d["options"]["threads"] == "auto"
    assert d["options"]["sqrt"] == "exact" and d["options"]["quiet"] is True and d["options"]["plot"] is None
    assert runs["ns"]["options"]["sqrt"] == "newton-schulz" and runs["ns"]["threads"]["layer_workers"] == 1
    files = d["inputs"]["files"]
    assert len(files) == d["files"] == d["inputs"]["samples"]
    assert sum(f["vision_rows"] for f in files) == d["inputs"]["vision_rows"]
    assert sum(f["text_rows"] for f in files) == d["inputs"]["text_rows"]
    for f in files:
        assert os.path.getsize(f["path"]) == f["bytes"] and f["dtype"] == "F16"
    assert all(l["wall_s"] >= 0 for l in d["layers"])
    # Two runs on different inputs are told apart from their JSON alone.
    assert [f["path"] for f in runs["fp32"]["inputs"]["files"]] != [f["path"] for f in files]
    assert runs["fp32"]["inputs"]["files"][0]["dtype"] == "BF16"


def test_every_json_the_program_writes_validates(tmp, result_schema):
    # moca-init and bench-sqrt (grid and --from-dump) against their schemas; the provenance as compute's.
    a_dir, b_dir = os.path.join(GOLDEN, "f16_small"), os.path.join(GOLDEN, "bf16_small")
    moca = {}
    for name, d in (("a", a_dir), ("b", b_dir)):
        out = os.path.join(tmp, f"moca_{name}.safetensors")
        js = os.path.join(tmp, f"moca_{name}.json")
        run("moca-init", d, "--out", out, "--json", js, "--threads", "1")
        j = json.load(open(js))
        result_schema("moca-init", j)
        assert j["schema_version"] == 1 and j["command_line"][1] == "moca-init" and j["out"] == out
        assert j["options"]["dtype"] == "f32" and j["options"]["threads"] == "1" and j["options"]["quiet"] is False
        assert j["threads"]["layer_workers"] == 1 and len(j["layers"]) == j["num_layers"]
        assert [f["path"] for f in j["inputs"]["files"]] == sorted(
            os.path.join(d, f) for f in os.listdir(d) if f.endswith(".safetensors"))
        assert all(l["wall_s"] >= 0 for l in j["layers"])
        moca[name] = j
    # Two runs on different inputs are told apart from their JSON alone.
    assert moca["a"]["inputs"]["files"][0]["dtype"] == "F16" and moca["b"]["inputs"]["files"][0]["dtype"] == "BF16"
    grid = os.path.join(tmp, "bench")
    run("bench-sqrt", "--out", grid, "--dims", "8,16", "--kappas", "1e2", "--quiet")
    j = json.load(open(os.path.join(grid, "sqrt_bench.json")))
    result_schema("bench-sqrt", j)
    assert j["options"]["dims"] == ["8", "16"] and j["options"]["seed"] == "1" and "inputs" not in j
    dump = os.path.join(tmp, "bench-dump")
    run("bench-sqrt", "--out", dump, "--from-dump", a_dir, "--layer", "1", "--quiet")
    j = json.load(open(os.path.join(dump, "sqrt_bench.json")))
    result_schema("bench-sqrt", j)
    assert j["inputs"]["samples"] == len(j["inputs"]["files"]) and j["options"]["layer"] == "1"
    # The schemas can fail: a document without its provenance, or with a stray field, is refused.
    for broken in ({k: v for k, v in j.items() if k != "started_at"}, {**j, "unexpected": 1},
                   {**j, "blas": {**j["blas"], "threads": 0}}):
        assert list(result_schema.validator("bench-sqrt").iter_errors(broken)), broken.keys()
    bad = dict(moca["a"], layers=[{k: v for k, v in moca["a"]["layers"][0].items() if k != "wall_s"}])
    assert list(result_schema.validator("moca-init").iter_errors(bad))


def test_human_output_and_official_fast_note():
    p = run("compute", os.path.join(GOLDEN, "f16_small"), "--sqrt", "official-fast")
    assert "MIR = " in p.stdout and "EMULATES the official" in p.stdout and "not Fréchet distances" in p.stdout
    assert "official-fast emulation (not a square root)" in p.stdout and "trace_loop" in p.stdout
    p = run("compute", os.path.join(GOLDEN, "f16_small"))
    assert p.stdout.count("\n") >= 6 and "MIR = 0.576" in p.stdout, p.stdout
    assert "EMULATES" not in p.stdout


def test_reference_fast_is_refused_with_a_pointer_to_official_fast():
    p = run("compute", os.path.join(GOLDEN, "f16_small"), "--sqrt", "reference-fast", ok=False)
    assert "official-fast" in p.stderr and "removed" in p.stderr, p.stderr
    assert "reference-fast" not in run("compute", "--help").stdout
    assert "official-fast" in run("compute", "--help").stdout


def test_official_fast_emulation_agrees_with_the_official_code():
    """--sqrt official-fast against every official-fast value in golden/ (SPEC §3, docs/comparing.md):
    MIR within 1e-3, each layer within 2e-3 of the case's FID sum."""
    cases = [(c, e["official-fast"]) for c, e in json.load(open(os.path.join(GOLDEN, "expected.json"))).items()
             if "official-fast" in e]
    official = json.load(open(os.path.join(GOLDEN, "official", "expected.json")))
    cases += [(os.path.join("official", c), e["official-fast"]) for c, e in official.items()]
    assert len(cases) == 5
    for case, want in cases:
        j = compute_json(os.path.join(GOLDEN, case), "--sqrt", "official-fast")
        assert j["sqrt"] == "official-fast" and "not a square root" in j["sqrt_emulation"]
        assert abs(j["mir"] - want["mir"]) <= 1e-3, (case, j["mir"], want["mir"])
        total = sum(want["per_layer"])
        for l, w in zip(j["layers"], want["per_layer"], strict=True):
            assert abs(l["fid"] - w) <= 2e-3 * total, (case, l["layer"], l["fid"], w)
            assert l["sqrt_route"] == "official-fast-emulation"
        assert "sqrt_emulation" not in compute_json(os.path.join(GOLDEN, case))


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_synth_is_deterministic_and_plot_renders(tmp):
    a, b, c = (os.path.join(tmp, x) for x in "abc")
    args = ["--num-layers", "3", "--dim", "32", "--samples", "3", "--vision-tokens", "12", "--text-tokens", "10-20"]
    run("synth", a, *args, "--seed", "5")
    run("synth", b, *args, "--seed", "5")
    run("synth", c, *args, "--seed", "6")
    names = sorted(os.listdir(a))
    assert names == ["sample_0000.safetensors", "sample_0001.safetensors", "sample_0002.safetensors"]
    assert [sha(os.path.join(a, n)) for n in names] == [sha(os.path.join(b, n)) for n in names]
    assert sha(os.path.join(a, names[0])) != sha(os.path.join(c, names[0]))
    svg = os.path.join(tmp, "fid.svg")
    j = compute_json(a, "--plot", svg)
    assert math.isfinite(j["mir"])
    text = open(svg).read()
    assert "MIR = " in text and "layer (hidden-state index)" in text and "log scale" in text
    if shutil.which("rsvg-convert") and shutil.which("identify"):
        png = os.path.join(tmp, "fid.png")
        subprocess.run(["rsvg-convert", svg, "-o", png], check=True)
        colours = int(subprocess.run(["identify", "-format", "%k", png], capture_output=True, text=True,
                                     check=True).stdout)
        assert colours > 10, f"plot looks blank: {colours} colours"
    else:
        raise AssertionError("rsvg-convert and identify are needed (librsvg2-bin, imagemagick)")


def test_bundled_example_is_reproducible(tmp):
    # examples/data is what scripts/run-example.sh documents: mir synth with these arguments.
    root = os.path.dirname(os.path.dirname(os.path.abspath(DATA)))
    bundled = os.path.join(root, "examples", "data")
    out = os.path.join(tmp, "example")
    run("synth", out, "--num-layers", "6", "--dim", "128", "--samples", "8", "--vision-tokens", "48",
        "--text-tokens", "40-80", "--seed", "2025")
    names = sorted(os.listdir(bundled))
    assert names == sorted(os.listdir(out)), names
    for n in names:
        assert sha(os.path.join(bundled, n)) == sha(os.path.join(out, n)), n


def safetensors_bytes(tensors, header_override=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, off, payload = {}, 0, b""
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        payload += data
    h = header_override if header_override is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + payload


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


def test_bad_inputs_name_file_and_rule(tmp):
    def write(name, blob):
        p = os.path.join(tmp, name)
        open(p, "wb").write(blob)
        return p

    good_h = f32([float((i * 7) % 11) - 5 for i in range(2 * 6 * 4)])
    mask = bytes([1, 1, 1, 0, 0, 0])
    cases = {
        "mask_len.safetensors": (safetensors_bytes([("hidden_states", "F32", [2, 6, 4], good_h),
                                                    ("vision_mask", "U8", [5], mask[:5])]), "6 tokens"),
        "no_vision.safetensors": (safetensors_bytes([("hidden_states", "F32", [2, 6, 4], good_h),
                                                     ("vision_mask", "U8", [6], bytes(6))]), "no vision rows"),
        "no_text.safetensors": (safetensors_bytes([("hidden_states", "F32", [2, 6, 4], good_h),
                                                   ("vision_mask", "U8", [6], bytes([1] * 6))]), "no text rows"),
        "layout.safetensors": (safetensors_bytes([("logits", "F32", [2, 4], f32([0.0] * 8))]), "expected either"),
        "nan.safetensors": (safetensors_bytes([("hidden_states", "F32", [2, 6, 4],
                                                good_h[:4 * 33] + f32([float("nan")]) + good_h[4 * 34:]),
                                               ("vision_mask", "U8", [6], mask)]), "NaN"),
        "truncated.safetensors": (safetensors_bytes([("hidden_states", "F32", [2, 6, 4], good_h),
                                                     ("vision_mask", "U8", [6], mask)])[:-3], None),
        "dup.safetensors": (safetensors_bytes([], header_override=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                                                   b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
                            + f32([1.0]), "duplicate"),
        "bad.txt": (b"hello", "unsupported file type"),
    }
    for name, (blob, needle) in cases.items():
        path = write(name, blob)
        p = run("compute", path, "--quiet", ok=False)
        assert p.returncode == 1, (name, p.returncode)
        assert name in p.stderr, (name, p.stderr)
        if needle:
            assert needle in p.stderr, (name, needle, p.stderr)
    # Files that disagree with each other.
    a = write("k2.safetensors", safetensors_bytes([("hidden_states", "F32", [2, 6, 4], good_h),
                                                   ("vision_mask", "U8", [6], mask)]))
    b = write("k3.safetensors", safetensors_bytes([("hidden_states", "F32", [3, 6, 4], good_h + f32([1.0] * 24)),
                                                   ("vision_mask", "U8", [6], mask)]))
    p = run("compute", a, b, "--quiet", ok=False)
    assert "k3.safetensors" in p.stderr and "hidden-state indices" in p.stderr, p.stderr
    c = write("d8.safetensors", safetensors_bytes([("hidden_states", "F32", [2, 3, 8], good_h),
                                                   ("vision_mask", "U8", [3], bytes([1, 0, 0]))]))
    p = run("compute", a, c, "--quiet", ok=False)
    assert "hidden size" in p.stderr, p.stderr
    p = run("compute", os.path.join(tmp, "missing.safetensors"), ok=False)
    assert "no such file" in p.stderr


def read_safetensors(path):
    """{name: (dtype, shape, [float values])} and the metadata of a safetensors file."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        raw = data[t["data_offsets"][0]:t["data_offsets"][1]]
        if t["dtype"] == "F32":
            vals = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        elif t["dtype"] == "F16":
            vals = list(struct.unpack(f"<{len(raw) // 2}e", raw))
        elif t["dtype"] == "BF16":
            vals = [struct.unpack("<f", struct.pack("<I", b << 16))[0] for b in struct.unpack(f"<{len(raw) // 2}H", raw)]
        else:
            vals = list(raw)
        out[name] = (t["dtype"], t["shape"], vals)
    return out, meta


def bf16_round(x):
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


def test_moca_init_checkpoint_and_fid(tmp):
    dumps = os.path.join(tmp, "dumps")
    k, d = 4, 16
    run("synth", dumps, "--num-layers", str(k), "--dim", str(d), "--samples", "3", "--vision-tokens", "24",
        "--text-tokens", "20-30", "--seed", "3")
    out = os.path.join(tmp, "moca.safetensors")
    j = json.loads(run("moca-init", dumps, "--out", out, "--outliers", "none", "--json", "-").stdout)
    assert j["num_layers"] == k and j["hidden_size"] == d and j["dtype"] == "F32" and j["outliers"] == "none"
    assert "not a prediction" in j["note"]
    assert [l["layer"] for l in j["layers"]] == list(range(k)) and [l["index"] for l in j["layers"]] == list(range(1, k + 1))
    ref = compute_json(dumps, "--outliers", "none")  # FID before = mir compute's per-layer FID
    for l, c in zip(j["layers"], ref["layers"]):
        assert c["layer"] == l["index"] and close(l["fid_before"], c["fid"], 1e-9), (l, c)
        assert 0 <= l["fid_after"] < l["fid_before"], l
    assert j["fid_sum_after"] < j["fid_sum_before"]

    tensors, meta = read_safetensors(out)
    names = sorted(f"model.layers.{i}.modality_layernorm.{p}" for i in range(k) for p in ("scale", "shift"))
    assert sorted(tensors) == names, sorted(tensors)
    assert all(t[0] == "F32" and t[1] == [d] for t in tensors.values())
    assert meta.get("format") == "pt", meta

    # Layer 0 from hidden-state index 1, recomputed here: u = σt/σv, v = μt − u·μv (Bessel).
    vis, txt = [], []
    for name in sorted(os.listdir(dumps)):
        st, _ = read_safetensors(os.path.join(dumps, name))
        _, (_, tokens, dd), h = st["hidden_states"]
        mask = st["vision_mask"][2]
        for t in range(tokens):
            row = h[(1 * tokens + t) * dd:(1 * tokens + t + 1) * dd]
            (vis if mask[t] else txt).append(row)

    def mean_std(rows, c):
        m = sum(r[c] for r in rows) / len(rows)
        return m, math.sqrt(sum((r[c] - m) ** 2 for r in rows) / (len(rows) - 1))

    u = tensors["model.layers.0.modality_layernorm.scale"][2]
    v = tensors["model.layers.0.modality_layernorm.shift"][2]
    for c in range(d):
        mv, sv = mean_std(vis, c)
        mt, st_ = mean_std(txt, c)
        assert close(u[c], st_ / sv, 1e-5), (c, u[c], st_ / sv)
        assert abs(v[c] - (mt - u[c] * mv)) <= 1e-5 * (abs(mt) + abs(u[c] * mv)), (c, v[c])

    # BF16: the F32 values rounded to nearest even; the human output says what "after" means.
    out16 = os.path.join(tmp, "moca_bf16.safetensors")
    p = run("moca-init", dumps, "--out", out16, "--outliers", "none", "--dtype", "bf16")
    assert "fid_before" in p.stdout and "not a prediction" in p.stdout and "approximate" in p.stdout, p.stdout
    t16, _ = read_safetensors(out16)
    for name in names:
        assert t16[name][0] == "BF16"
        assert t16[name][2] == [bf16_round(x) for x in tensors[name][2]], name
    # The default policy runs too, and a missing --out is an error.
    j = json.loads(run("moca-init", dumps, "--out", out, "--json", "-").stdout)
    assert j["outliers"] == "replace-median" and j["fid_sum_after"] < j["fid_sum_before"]
    run("moca-init", dumps, ok=False)


def test_unwritable_output_is_an_error(tmp):
    # A JSON document that does not reach stdout or its file (here: a full disk) fails the run.
    d = os.path.join(GOLDEN, "f16_small")
    for args in (["compute", d, "--quiet"], ["moca-init", d, "--out", os.path.join(tmp, "m.safetensors")]):
        with open("/dev/full", "w") as full:
            p = subprocess.run([MIR, *args, "--json", "-"], stdout=full, stderr=subprocess.PIPE, text=True)
        assert p.returncode == 1 and "stdout: cannot write the JSON output" in p.stderr, (args, p.returncode, p.stderr)
        p = run(*args, "--json", "/dev/full", ok=False)
        assert "/dev/full: cannot write the JSON output" in p.stderr, (args, p.stderr)
