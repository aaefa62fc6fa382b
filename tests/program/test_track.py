"""`mir track`: MIR across checkpoints and where it saturates (pytest; ctest
label `program`). Synthetic series whose knee is known by construction must
be found at that step (and a series that keeps improving must not be called
saturated); dump checkpoints give the MIR `mir compute` gives; the JSON
validates; the plots render.
"""
import json
import math
import os
import shutil
import subprocess

from test_program import run, compute_json, program_paths  # noqa: F401  (the fixture sets MIR)
import test_program


def write_series(d, steps, mirs, layers=4):
    os.makedirs(d, exist_ok=True)
    paths = []
    for s, m in zip(steps, mirs):
        p = os.path.join(d, f"checkpoint-{s}.json")
        fid_sum = 10 ** m
        json.dump({"schema_version": 1, "mir": m, "fid_sum": fid_sum,
                   "layers": [{"layer": k, "fid": fid_sum * (k + 1) / (layers * (layers + 1) / 2)}
                              for k in range(layers)]}, open(p, "w"))
        paths.append(p)
    return paths


def knee_series(knee, steps, drop=0.6, tau=None, tail_slope=0.0005, noise=0.0):
    """Exponential approach until `knee`, then a slope of `tail_slope` per checkpoint (far below
    any threshold used), plus a deterministic wiggle of amplitude `noise`."""
    tau = tau or (knee - steps[0]) / 4
    out = []
    for i, s in enumerate(steps):
        if s <= knee:
            m = 2.9 + drop * math.exp(-(s - steps[0]) / tau)
        else:
            m = 2.9 + drop * math.exp(-(knee - steps[0]) / tau) - tail_slope * (s - knee) / (steps[1] - steps[0])
        out.append(m + noise * math.sin(2.1 * i))
    return out


def track_json(*args):
    return json.loads(run("track", *args, "--json", "-").stdout)


def test_track_finds_a_known_knee(tmp, result_schema):
    steps = list(range(500, 10500, 500))
    # Before the knee MIR falls by more than the threshold within every window; after it, by less.
    for knee, window, threshold, noise in ((4000, 3, 0.01, 0.0), (6000, 2, 0.01, 0.001), (2500, 4, 0.02, 0.002)):
        mirs = knee_series(knee, steps, noise=noise)
        # The knee by construction: the first step whose next `window` values fall by < threshold.
        expect = next(s for i, s in enumerate(steps[:-window])
                      if mirs[i] - min(mirs[i + 1:i + 1 + window]) < threshold)
        assert abs(expect - knee) <= 1000, (knee, expect)  # the construction puts it at the knee
        paths = write_series(os.path.join(tmp, f"k{knee}"), steps, mirs)
        j = track_json(*paths, "--window", str(window), "--threshold", str(threshold))
        result_schema("track", j)
        assert j["saturation"]["step"] == expect, (knee, j["saturation"], expect)
        assert [c["step"] for c in j["checkpoints"]] == steps  # sorted by step whatever the order given
        assert j["saturation"]["improvement"] < threshold
    # Given in shuffled order, with --steps instead of names: the same.
    mirs = knee_series(4000, steps)
    paths = write_series(os.path.join(tmp, "plain"), steps, mirs)
    order = list(range(len(paths)))[::-1]
    renamed = []
    for i in order:
        p = os.path.join(tmp, "plain", f"run_{chr(97 + i % 26)}{chr(97 + i // 26)}.json")
        shutil.copy(paths[i], p)
        renamed.append(p)
    j = track_json(*renamed, "--steps", ",".join(str(steps[i]) for i in order))
    assert j["saturation"] == track_json(*paths)["saturation"]
    assert [c["step"] for c in j["checkpoints"]] == steps


def test_track_does_not_call_a_steady_fall_saturated(tmp):
    steps = list(range(1000, 11000, 1000))
    paths = write_series(os.path.join(tmp, "s"), steps, [3.5 - 0.02 * i for i in range(len(steps))])
    j = track_json(*paths)
    assert j["saturation"] is None
    out = run("track", *paths).stdout
    assert "not saturated" in out and "checkpoint-10000.json" in out, out
    short = run("track", *paths[:3]).stdout
    assert "not enough checkpoints" in short, short


def test_track_dump_checkpoints_equal_compute_and_plots_render(tmp):
    # The bundled example split into four checkpoints of two samples each.
    ex = os.path.join(os.path.dirname(os.path.dirname(test_program.DATA)), "examples", "data")
    files = sorted(f for f in os.listdir(ex) if f.endswith(".safetensors"))
    dirs = []
    for i in range(4):
        d = os.path.join(tmp, f"ckpt-{(i + 1) * 1000}")
        os.makedirs(d)
        for f in files[2 * i:2 * i + 2]:
            shutil.copy(os.path.join(ex, f), d)
        dirs.append(d)
    plot, heat = os.path.join(tmp, "mir.svg"), os.path.join(tmp, "heat.svg")
    out = os.path.join(tmp, "t.json")
    table = run("track", *dirs, "--window", "1", "--json", out, "--plot", plot, "--heatmap", heat).stdout
    assert "ckpt-4000" in table and "MIR" in table, table
    j = json.load(open(out))
    for c, d in zip(j["checkpoints"], dirs):
        single = compute_json(d)
        assert abs(c["mir"] - single["mir"]) <= 1e-12 * abs(single["mir"]), (c, single["mir"])
        assert [l["layer"] for l in c["layers"]] == [l["layer"] for l in single["layers"]]
    assert [c["step"] for c in j["checkpoints"]] == [1000, 2000, 3000, 4000]
    for svg in (plot, heat):
        text = open(svg).read()
        assert text.startswith("<svg") and text.rstrip().endswith("</svg>"), svg
        if shutil.which("rsvg-convert"):
            png = svg + ".png"
            subprocess.run(["rsvg-convert", svg, "-o", png], check=True)
            assert os.path.getsize(png) > 1000
    assert open(heat).read().count("<rect") >= 4 * len(j["checkpoints"][0]["layers"])


def test_track_errors_name_the_checkpoint(tmp):
    paths = write_series(os.path.join(tmp, "e"), [1, 2, 3], [3.0, 2.9, 2.8])
    nostep = os.path.join(tmp, "e", "final.json")
    shutil.copy(paths[0], nostep)
    p = run("track", paths[0], nostep, ok=False)
    assert p.returncode == 2 and "final.json" in p.stderr and "--steps" in p.stderr, p.stderr
    p = run("track", *paths, "--steps", "1,2", ok=False)
    assert p.returncode == 2 and "2 values for 3" in p.stderr, p.stderr
    p = run("track", paths[0], paths[1], "--steps", "5,5", ok=False)
    assert "same step 5" in p.stderr, p.stderr
    bad = os.path.join(tmp, "e", "checkpoint-9.json")
    open(bad, "w").write('{"schema_version": 1, "mir": "high"}')
    p = run("track", paths[0], bad, ok=False)
    assert p.returncode == 1 and "checkpoint-9.json" in p.stderr and "not a mir result" in p.stderr, p.stderr
