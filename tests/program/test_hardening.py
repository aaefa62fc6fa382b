"""Hardening of the `mir` program (issue 12): exit codes, checked and atomic
outputs, validated arguments, undefined MIR, messages that name the thing.

usage: python3 -m pytest tests/program/test_hardening.py --mir MIR_BINARY --data DATA_DIR [-k NAME]
(ctest runs each test on its own: ctest -L program.)
"""
import json
import os
import random
import re
import resource
import signal
import struct
import subprocess

import pytest

MIR = DATA = GOLDEN = None


@pytest.fixture(scope="session", autouse=True)
def program_paths(mir_paths):  # conftest.py
    global MIR, DATA, GOLDEN
    MIR, DATA, GOLDEN = mir_paths


def mir(*args, cwd=None, stdout=subprocess.PIPE, preexec_fn=None):
    return subprocess.run([MIR, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=cwd,
                          preexec_fn=preexec_fn)


def expect(code, *args, **kw):
    p = mir(*args, **kw)
    assert p.returncode == code, (args, p.returncode, p.stdout, p.stderr)
    return p


def safetensors_bytes(tensors):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, off, payload = {}, 0, b""
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        payload += data
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + payload


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


def write(path, blob):
    with open(path, "wb") as f:
        f.write(blob)
    return path


def presplit(path, vision, text):
    """vision, text: [K+1][rows][d] lists of floats (pre-split layout, F32)."""
    def flat(x):
        return [v for layer in x for row in layer for v in row]
    return write(path, safetensors_bytes([
        ("vision", "F32", [len(vision), len(vision[0]), len(vision[0][0])], f32(flat(vision))),
        ("text", "F32", [len(text), len(text[0]), len(text[0][0])], f32(flat(text)))]))


def rows(rng, n, d, scale=1.0, shift=0.0):
    return [[scale * rng.gauss(0, 1) + shift for _ in range(d)] for _ in range(n)]


def short_message(stderr):
    assert len(stderr) < 400, stderr
    assert not re.search(r"\d{40}", stderr), stderr  # no 309-digit ranges


# ---- 11. exit codes, usage messages, --version -----------------------------------------------

def test_exit_codes_and_version(tmp):
    root = os.path.dirname(os.path.dirname(os.path.abspath(DATA)))
    version = re.search(r"project\(mir VERSION ([0-9.]+)", open(os.path.join(root, "CMakeLists.txt")).read()).group(1)
    p = expect(0, "--version")
    assert version in p.stdout, p.stdout
    d = os.path.join(GOLDEN, "f16_small")
    for args in (["compute"], [], ["compute", d, "--threads", "0"], ["compute", d, "--no-such-option"],
                 ["compute", d, "--sqrt", "nope"], ["compute", d, "--sqrt-tol", "-1"],
                 ["compute", d, "--layers", "9"], ["bench-sqrt", "--blas-threads", "0"], ["nope"]):
        p = expect(2, *args)
        short_message(p.stderr)
        assert "usage error" in p.stderr, (args, p.stderr)
    p = expect(1, "compute", os.path.join(tmp, "missing.safetensors"))
    assert "no such file" in p.stderr
    expect(0, "compute", "--help")


# ---- 10. square-root tolerances and non-convergence ------------------------------------------

def test_sqrt_tolerance_and_iterations_validated():
    d = os.path.join(GOLDEN, "f16_small")
    for tol in ("nan", "inf", "-inf", "0", "1", "1e300", "-1e-10", "abc", ""):
        p = expect(2, "compute", d, "--sqrt", "newton-schulz", "--sqrt-tol", tol)
        short_message(p.stderr)
        assert "--sqrt-tol" in p.stderr, (tol, p.stderr)
    for n in ("0", "-1"):
        p = expect(2, "compute", d, "--sqrt", "newton-schulz", "--sqrt-max-iter", n)
        short_message(p.stderr)


def test_non_converged_square_root_is_marked():
    d = os.path.join(GOLDEN, "f16_small")
    p = expect(0, "compute", d, "--sqrt", "newton-schulz", "--sqrt-max-iter", "1", "--quiet")
    table = [l for l in p.stdout.splitlines() if re.match(r"\s+\d+\s", l)]
    assert len(table) == 4 and all("max-iter (NOT CONVERGED)" in l for l in table), p.stdout
    assert p.stderr.count("did not converge") == 4 and "layer 1:" in p.stderr, p.stderr
    j = json.loads(expect(0, "compute", d, "--sqrt", "newton-schulz", "--sqrt-max-iter", "1", "--json", "-").stdout)
    assert j["sqrt_converged"] is False and all(l["sqrt_status"] == "max-iter" for l in j["layers"])
    j = json.loads(expect(0, "compute", d, "--sqrt", "newton-schulz", "--json", "-").stdout)
    assert j["sqrt_converged"] is True
    p = expect(0, "compute", d, "--sqrt", "newton-schulz")
    assert "NOT CONVERGED" not in p.stdout and "converged" in p.stdout and "did not converge" not in p.stderr


# ---- 5/6/7. outputs: checked, atomic, validated first, stdout as "-" --------------------------

def test_stdout_that_cannot_be_written_fails():
    d = os.path.join(GOLDEN, "f16_small")
    for args in (["compute", d, "--quiet"], ["compute", d, "--quiet", "--plot", "-"], ["inspect", d],
                 ["compute", d, "--quiet", "--json", "-"]):
        with open("/dev/full", "w") as full:
            p = mir(*args, stdout=full)
        assert p.returncode == 1 and "stdout: cannot write" in p.stderr, (args, p.returncode, p.stderr)


def limit_file_size(n):
    def set_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return set_limit


def test_failed_write_leaves_the_old_file_and_no_partial_file(tmp):
    d = os.path.join(GOLDEN, "f16_small")
    out = write(os.path.join(tmp, "r.json"), b"OLD")
    svg = os.path.join(tmp, "p.svg")
    p = mir("compute", d, "--quiet", "--json", out, "--plot", svg, preexec_fn=limit_file_size(1000))
    assert p.returncode == 1 and "cannot write" in p.stderr, (p.returncode, p.stderr)
    assert open(out, "rb").read() == b"OLD"
    assert sorted(os.listdir(tmp)) == ["r.json"], os.listdir(tmp)  # no temporary file, no plot: all or nothing
    # Unlimited, the same run replaces both atomically and leaves nothing else.
    expect(0, "compute", d, "--quiet", "--json", out, "--plot", svg)
    assert json.load(open(out))["mir"] > 0 and "<svg" in open(svg).read()
    assert sorted(os.listdir(tmp)) == ["p.svg", "r.json"]
    # moca-init: the checkpoint (large) cannot be written, the JSON is not written either.
    ck, js = os.path.join(tmp, "m.safetensors"), os.path.join(tmp, "m.json")
    p = mir("moca-init", d, "--out", ck, "--json", js, preexec_fn=limit_file_size(1000))
    assert p.returncode == 1 and "m.safetensors" in p.stderr, p.stderr
    assert not os.path.exists(ck) and not os.path.exists(js)
    assert sorted(os.listdir(tmp)) == ["p.svg", "r.json"]


def test_output_through_a_symlink_keeps_the_link(tmp):
    d = os.path.join(GOLDEN, "f16_small")
    real_dir = os.path.join(tmp, "real")
    os.mkdir(real_dir)
    real = write(os.path.join(real_dir, "r.json"), b"OLD")
    link = os.path.join(tmp, "r.json")
    os.symlink(os.path.join("real", "r.json"), link)  # relative, resolved against the link's directory
    chain = os.path.join(tmp, "chain.json")
    os.symlink("r.json", chain)  # a link to the link
    expect(0, "compute", d, "--quiet", "--json", chain)
    assert os.path.islink(link) and os.path.islink(chain)  # not replaced by regular files
    assert json.load(open(real))["mir"] > 0
    assert sorted(os.listdir(real_dir)) == ["r.json"]  # the temporary file was beside the target, and is gone
    # A dangling link: its target is created (as the shell's > does), the link stays.
    dangling = os.path.join(tmp, "new.svg")
    os.symlink(os.path.join(real_dir, "p.svg"), dangling)
    expect(0, "compute", d, "--quiet", "--plot", dangling)
    assert os.path.islink(dangling) and "<svg" in open(os.path.join(real_dir, "p.svg")).read()
    # A link to an input is still an input.
    inp = os.path.join(d, sorted(os.listdir(d))[0])
    to_input = os.path.join(tmp, "in.json")
    os.symlink(inp, to_input)
    p = expect(2, "compute", d, "--quiet", "--json", to_input)
    assert "must not overwrite an input" in p.stderr, p.stderr
    # A loop of links is an error naming the option.
    os.symlink("loop_b", os.path.join(tmp, "loop_a"))
    os.symlink("loop_a", os.path.join(tmp, "loop_b"))
    p = expect(1, "compute", d, "--quiet", "--json", os.path.join(tmp, "loop_a"))
    assert "--json" in p.stderr and "symbolic links" in p.stderr, p.stderr


def test_outputs_are_checked_before_any_work(tmp):
    d = os.path.join(GOLDEN, "f16_small")
    a = write(os.path.join(tmp, "a.json"), b"A")
    # An unwritable second output: the first is not touched, exit 1, nothing computed.
    p = expect(1, "compute", d, "--json", a, "--plot", os.path.join(tmp, "no", "p.svg"))
    assert "--plot" in p.stderr and "does not exist" in p.stderr and p.stdout == "", p.stderr
    assert open(a, "rb").read() == b"A"
    p = expect(1, "moca-init", d, "--out", os.path.join(tmp, "m.safetensors"), "--json", os.path.join(tmp, "no", "j"))
    assert not os.path.exists(os.path.join(tmp, "m.safetensors"))
    p = expect(1, "compute", d, "--json", tmp)
    assert "is a directory" in p.stderr
    p = expect(1, "compute", d, "--json", os.path.join(a, "x.json"))
    assert "not a directory" in p.stderr
    # Clashes are usage errors: two outputs on one file, an output on an input (also through a hard link).
    x = os.path.join(tmp, "x")
    p = expect(2, "compute", d, "--json", x, "--plot", os.path.join(tmp, ".", "x"))
    assert "same file" in p.stderr and not os.path.exists(x), p.stderr
    src = os.path.join(d, "sample_0000.safetensors")
    before = open(src, "rb").read()
    p = expect(2, "compute", d, "--json", src)
    assert "input" in p.stderr, p.stderr
    link = os.path.join(tmp, "link.safetensors")
    mine = write(os.path.join(tmp, "mine.safetensors"), before)
    os.link(mine, link)
    p = expect(2, "compute", mine, "--plot", link)
    assert "input" in p.stderr and open(mine, "rb").read() == before, p.stderr
    p = expect(2, "moca-init", d, "--out", os.path.join(tmp, "m"), "--json", os.path.join(tmp, "m"))
    assert "same file" in p.stderr
    p = expect(2, "compute", d, "--json", "-", "--plot", "-")
    assert "stdout" in p.stderr
    assert sorted(os.listdir(tmp)) == ["a.json", "link.safetensors", "mine.safetensors"]


def test_plot_dash_is_stdout(tmp):
    d = os.path.join(GOLDEN, "f16_small")
    p = expect(0, "compute", d, "--plot", "-", "--quiet", cwd=tmp)
    assert p.stdout.startswith("<svg") or p.stdout.startswith("<?xml"), p.stdout[:100]
    assert "MIR = " in p.stdout and os.listdir(tmp) == []


# ---- 8, 13. bench-sqrt arguments, --from-dump checks, --replot messages ----------------------

def test_bench_sqrt_arguments_are_validated(tmp):
    out = os.path.join(tmp, "b")
    for args in (["--dims", "0"], ["--dims", "-5"], ["--dims", "100000"], ["--kappas", "0"], ["--kappas", "-1"],
                 ["--kappas", "nan"], ["--kappas", "inf"], ["--kappas", "0.5"], ["--layer", "-5"],
                 ["--layer", "2"], ["--replot", "x.csv", "--dims", "8"]):
        p = expect(2, "bench-sqrt", "--out", out, "--quiet", *args)
        short_message(p.stderr)
    assert not os.path.exists(os.path.join(out, "sqrt_bench.csv"))
    expect(0, "bench-sqrt", "--out", out, "--quiet", "--dims", "1,3", "--kappas", "1,10")
    rows = json.load(open(os.path.join(out, "sqrt_bench.json")))["rows"]
    assert {r["d"] for r in rows} == {1, 3}
    assert all(r["status"] != "" and r["value"] == r["value"] for r in rows if r["pair"] != "rank-deficient")


def test_bench_sqrt_from_dump_uses_the_dump_checks(tmp):
    rng = random.Random(1)
    dumps = os.path.join(tmp, "dumps")
    os.mkdir(dumps)
    presplit(os.path.join(dumps, "a.safetensors"), [rows(rng, 12, 6)] * 3, [rows(rng, 14, 6)] * 3)
    presplit(os.path.join(dumps, "b.safetensors"), [rows(rng, 12, 7)] * 3, [rows(rng, 14, 7)] * 3)
    p = expect(1, "bench-sqrt", "--out", os.path.join(tmp, "o"), "--quiet", "--from-dump", dumps)
    assert "b.safetensors" in p.stderr and "hidden size" in p.stderr, p.stderr
    os.remove(os.path.join(dumps, "b.safetensors"))
    p = expect(2, "bench-sqrt", "--out", os.path.join(tmp, "o"), "--quiet", "--from-dump", dumps, "--layer", "3")
    assert "out of range" in p.stderr and "0..2" in p.stderr, p.stderr
    bad = [rows(rng, 12, 6) for _ in range(3)]
    bad[1][4][2] = float("nan")
    presplit(os.path.join(dumps, "c.safetensors"), bad, [rows(rng, 14, 6)] * 3)
    p = expect(1, "bench-sqrt", "--out", os.path.join(tmp, "o"), "--quiet", "--from-dump", dumps, "--layer", "1")
    assert "c.safetensors" in p.stderr and "layer 1" in p.stderr and "NaN" in p.stderr, p.stderr
    os.remove(os.path.join(dumps, "c.safetensors"))
    expect(0, "bench-sqrt", "--out", os.path.join(tmp, "o"), "--quiet", "--from-dump", dumps, "--layer", "1")


def test_bench_sqrt_replot_names_file_and_line(tmp):
    out = os.path.join(tmp, "b")
    expect(0, "bench-sqrt", "--out", out, "--quiet", "--dims", "4", "--kappas", "10")
    csv = open(os.path.join(out, "sqrt_bench.csv")).read().splitlines()
    for n, bad in ((3, csv[2].replace(",4,", ",4x,", 1)), (2, "a,b,c"), (4, csv[3].rsplit(",", 3)[0] + ",zz,1,ok")):
        lines = list(csv)
        lines[n - 1] = bad
        path = write(os.path.join(tmp, "bad.csv"), ("\n".join(lines) + "\n").encode())
        p = expect(1, "bench-sqrt", "--out", os.path.join(tmp, "r"), "--replot", path)
        assert f"bad.csv: line {n}:" in p.stderr and "stol" not in p.stderr and "stod" not in p.stderr, p.stderr
    expect(0, "bench-sqrt", "--out", os.path.join(tmp, "r"), "--replot", os.path.join(out, "sqrt_bench.csv"))
    assert os.path.getsize(os.path.join(tmp, "r", "error_vs_kappa.svg")) > 200


# ---- 16. inspect goes on after a bad file ----------------------------------------------------

def test_inspect_reports_a_bad_file_and_goes_on(tmp):
    bad = write(os.path.join(tmp, "a_bad.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    good = os.path.join(GOLDEN, "f16_small", "sample_0000.safetensors")
    p = expect(1, "inspect", bad, os.path.join(tmp, "missing.npz"), good)
    assert "a_bad.safetensors" in p.stderr and "missing.npz" in p.stderr, p.stderr
    assert "hidden_states" in p.stdout and "layout: per-sample" in p.stdout, p.stdout


# ---- 4. identical modalities: FID 0 within its bound, MIR undefined --------------------------

def test_identical_modalities_give_zero_fid_and_undefined_mir(tmp):
    rng = random.Random(7)
    k1, n, d = 4, 40, 5
    same = [rows(rng, n, d, scale=1 + k, shift=0.3 * k) for k in range(k1)]
    path = presplit(os.path.join(tmp, "same.safetensors"), same, same)
    for extra in ([], ["--layers", "all"], ["--sqrt", "newton-schulz"], ["--sqrt", "denman-beavers"],
                  ["--threads", "2"], ["--threads", "2", "--sqrt", "newton-schulz", "--layers", "all"],
                  ["--precision", "fp32"], ["--outliers", "none"]):
        p = expect(1, "compute", path, "--quiet", *extra)
        assert "statistics coincide" in p.stderr and "undefined" in p.stderr, (extra, p.stderr)
    # reference-fast is no Fréchet distance (Tr(S S) stands for Tr S): identical rows give no zero there.
    # One layer identical, the others not: that layer's FID is exactly 0 (never negative), with its bound.
    other = [rows(rng, n, d, scale=1 + k, shift=0.3 * k + 0.5) for k in range(k1)]
    text = [same[0]] + other[1:]
    mixed = presplit(os.path.join(tmp, "mixed.safetensors"), same, text)
    for extra in ([], ["--sqrt", "newton-schulz"], ["--threads", "2"]):
        j = json.loads(expect(0, "compute", mixed, "--layers", "all", "--json", "-", *extra).stdout)
        l0 = j["layers"][0]
        assert l0["fid"] == 0.0 and 0 < l0["fid_bound"] < 1e-9, (extra, l0)
        assert all(l["fid"] > l["fid_bound"] for l in j["layers"][1:]), j["layers"]
        assert j["fid_sum_bound"] >= l0["fid_bound"] and j["mir"] == j["mir"]


# ---- 13. ranges and messages ------------------------------------------------------------------

def test_synth_sizes_out_of_range_are_usage_errors(tmp):
    for args in (["--num-layers", "2147483647"], ["--num-layers", "100001"], ["--dim", "99999999"],
                 ["--samples", "0"], ["--text-tokens", "x-y"], ["--num-layers", "90000", "--dim", "4096"]):
        p = expect(2, "synth", os.path.join(tmp, "s"), *args)
        short_message(p.stderr)
        assert "reserve" not in p.stderr and "bad_alloc" not in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(tmp, "s")) or os.listdir(os.path.join(tmp, "s")) == []


def sanitized_build():
    with open(MIR, "rb") as f:
        return b"AddressSanitizer" in f.read()


def compute_under_memory_limit(path, mb):
    """mir compute PATH under an address-space limit of MB megabytes (one BLAS thread)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OPENBLAS_CORETYPE="Haswell")
    return subprocess.run([MIR, "compute", path, "--quiet"], capture_output=True, text=True, preexec_fn=limit,
                          env=env, timeout=120)


def test_out_of_memory_names_the_layer(tmp):
    if sanitized_build():
        pytest.skip("ASan reserves terabytes of address space: RLIMIT_AS cannot be used")
    # d = 6000: one d x d moment matrix is 288 MB; under a 250 MB address-space limit its allocation
    # fails (before any BLAS call: OpenBLAS itself retries a failed mmap for ever), and the message
    # names the layer (not a bare std::bad_alloc).
    rng = random.Random(3)
    d = 6000
    path = presplit(os.path.join(tmp, "wide.safetensors"), [rows(rng, 3, d)] * 2, [rows(rng, 3, d)] * 2)
    p = compute_under_memory_limit(path, 250)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "out of memory" in p.stderr and "layer 1" in p.stderr, p.stderr


def test_npz_member_out_of_memory_names_file_and_member(tmp):
    if sanitized_build():
        pytest.skip("ASan reserves terabytes of address space: RLIMIT_AS cannot be used")
    # A used member of 300 MB (deflated zeros, 0.3 MB in the archive) under a 250 MB address-space
    # limit: its buffer (of the declared size, allocated once) cannot be had, and the message names
    # the file and the member, not a bare std::bad_alloc.
    import zipfile
    # d small enough that the layer's own state (two d x d moment matrices) leaves the limit's room
    # to the member: what must fail is the member's buffer, whatever else the binary maps (MPI).
    k1, t, d = 2, 37500, 1000
    path = os.path.join(tmp, "big.npz")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        def npy_header(descr, shape):
            h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
                descr, "".join(f"{x}, " for x in shape))
            h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
            return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode()
        with z.open("hidden_states.npy", "w", force_zip64=True) as m:
            m.write(npy_header("<f4", (k1, t, d)))
            chunk = bytes(4 * d * 500)
            for _ in range(k1 * t // 500):
                m.write(chunk)
        with z.open("vision_mask.npy", "w") as m:
            m.write(npy_header("|b1", (t,)) + bytes([1]) * 100 + bytes(t - 100))
    p = compute_under_memory_limit(path, 250)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "big.npz" in p.stderr and "hidden_states" in p.stderr and "out of memory" in p.stderr, p.stderr
    assert "bad_alloc" not in p.stderr, p.stderr


# ---- 12. moca-init --dtype f16: parameters beyond the F16 range ------------------------------

def test_moca_init_f16_beyond_range_names_layer_and_dtype(tmp):
    rng = random.Random(13)
    k1, n, d = 3, 40, 4
    vis = [rows(rng, n, d) for _ in range(k1)]
    txt = [rows(rng, n, d, shift=1e5) for _ in range(k1)]  # text means 1e5 away: v ~ 1e5 > 65504
    path = presplit(os.path.join(tmp, "far.safetensors"), vis, txt)
    ck = os.path.join(tmp, "moca.safetensors")
    p = expect(1, "moca-init", path, "--out", ck, "--dtype", "f16")
    assert re.search(r"layer \d+'s shift, dimension \d+: .* is beyond the F16 range", p.stderr), p.stderr
    assert "F32 or BF16" in p.stderr, p.stderr
    short_message(p.stderr)
    assert not os.path.exists(ck)  # nothing written
    expect(0, "moca-init", path, "--out", ck, "--dtype", "bf16")
    assert os.path.exists(ck)


# ---- 12. fp32 range: rows scaled before narrowing ----------------------------------------------

def test_fp32_matches_fp64_near_1e30_and_on_denormals(tmp):
    rng = random.Random(12)
    k1, n, d = 3, 50, 4
    vis = [rows(rng, n, d, scale=1 + k, shift=0.5) for k in range(k1)]
    txt = [rows(rng, n, d, scale=2 + k) for k in range(k1)]
    mirs = {}
    for factor in (1.0, 1e30, 1e-40):
        def scaled(x):
            return [[[v * factor for v in r] for r in layer] for layer in x]
        path = presplit(os.path.join(tmp, f"x{factor:g}.safetensors"), scaled(vis), scaled(txt))
        a = json.loads(expect(0, "compute", path, "--json", "-").stdout)
        b = json.loads(expect(0, "compute", path, "--json", "-", "--precision", "fp32").stdout)
        assert abs(a["mir"] - b["mir"]) < 1e-4, (factor, a["mir"], b["mir"])
        for la, lb in zip(a["layers"], b["layers"]):
            assert abs(la["fid"] - lb["fid"]) <= 1e-4 * la["fid"], (factor, la, lb)
        mirs[factor] = a["mir"]
    # FID in α-scaled units does not depend on the scale of the rows (the denormals keep fewer digits).
    assert abs(mirs[1e30] - mirs[1.0]) < 1e-5 and abs(mirs[1e-40] - mirs[1.0]) < 1e-2, mirs
