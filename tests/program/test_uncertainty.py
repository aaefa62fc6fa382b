"""`mir compute --ci`: the grouped jackknife's interval (pytest; ctest label
`program`). Checked through the program itself: with one file per group and
no outlier rule, the value without group g is exactly the MIR `mir compute`
gives on the other files; the standard error and interval follow from the
leave-outs by the jackknife's formula and Student's t (scipy); the JSON
validates; bad requests are usage errors that say what is wrong.

Beyond one process: shards that keep the jackknife's groups (--save-state
--ci-groups G --first-sample N) merged with `mir merge --ci` give the one-run
interval; `mir track --ci` carries each checkpoint's; `mir compare A B` is the
paired jackknife of the difference, checked against the two sides' own
leave-outs.
"""
import json
import math
import os

from test_program import run, compute_json, program_paths  # noqa: F401  (the fixture sets MIR)
import test_program


def example_files():
    ex = os.path.join(os.path.dirname(os.path.dirname(test_program.DATA)), "examples", "data")
    return sorted(os.path.join(ex, f) for f in os.listdir(ex) if f.endswith(".safetensors"))


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def test_ci_leave_outs_are_the_mir_of_the_other_files(result_schema):
    files = example_files()
    assert len(files) == 8
    j = compute_json(*files, "--outliers", "none", "--ci", "0.95")
    result_schema("compute", j)
    plain = compute_json(*files, "--outliers", "none")
    assert rel(j["mir"], plain["mir"]) < 1e-12
    ci = j["ci"]
    assert ci["groups"] == 8 and ci["samples"] == 8 and ci["method"] == "grouped-jackknife"
    for g in (0, 3, 7):  # group g holds file g alone
        rest = compute_json(*[f for i, f in enumerate(files) if i != g], "--outliers", "none")
        assert rel(ci["leave_out"][g], rest["mir"]) < 1e-11, g
        for k, layer in enumerate(j["layers"]):
            assert rel(layer["ci"]["leave_out"][g], rest["layers"][k]["fid"]) < 1e-11, (g, k)
    # The jackknife's formula and Student's t, recomputed here.
    from scipy import stats
    lo = ci["leave_out"]
    mean = sum(lo) / len(lo)
    se = math.sqrt((len(lo) - 1) / len(lo) * sum((v - mean) ** 2 for v in lo))
    t = stats.t.ppf(0.975, len(lo) - 1)
    assert rel(ci["std_error"], se) < 1e-12
    # scipy's t.ppf agrees with Boost.Math to about 1e-11 here
    bias = (len(lo) - 1) * (mean - j["mir"])
    assert rel(ci["bias"], bias) < 1e-9
    # Centred at the bias-corrected value (docs/uncertainty.md).
    assert rel(ci["lower"], j["mir"] - bias - t * se) < 1e-9 and rel(ci["upper"], j["mir"] - bias + t * se) < 1e-9


def test_ci_default_policy_groups_and_table(result_schema):
    files = example_files()
    j = compute_json(*files, "--ci", "0.9", "--ci-groups", "4")
    result_schema("compute", j)
    assert j["ci"]["groups"] == 4 and j["ci"]["level"] == 0.9
    assert j["ci"]["lower"] < j["mir"] - j["ci"]["bias"] < j["ci"]["upper"]
    assert rel(j["mir"], compute_json(*files)["mir"]) < 1e-12
    for layer in j["layers"]:
        assert layer["ci"]["lower"] < layer["fid"] - layer["ci"]["bias"] < layer["ci"]["upper"]
    table = run("compute", *files, "--ci", "0.9", "--ci-groups", "4", "--quiet").stdout
    assert "MIR = %.6f (90%% CI [%.6f, %.6f]" % (j["mir"], j["ci"]["lower"], j["ci"]["upper"]) in table
    assert "8 files in 4 groups" in table and "fid_lo" in table
    csv = run("compute", *files, "--ci", "0.9", "--ci-groups", "4", "--format", "csv", "--quiet").stdout
    assert csv.splitlines()[0].endswith(",fid_lo,fid_hi")
    assert "# MIR 90% CI = [" in csv


def test_ci_bad_requests_are_usage_errors(tmp):
    files = example_files()
    cases = [
        ((files[0], "--ci", "0.95"), "at least 2 files"),
        ((*files[:3], "--ci", "0.95", "--ci-groups", "5"), "every group needs a file"),
        ((*files, "--ci-groups", "3"), "--ci-groups needs --ci"),
        ((*files, "--ci", "1.5"), "LEVEL"),
        ((*files, "--ci", "0.95", "--save-state", os.path.join(tmp, "s.mirstate")), "goes to the last `mir merge`"),
        ((*files, "--first-sample", "3"), "needs --save-state"),
        ((*files, "--save-state", os.path.join(tmp, "s.mirstate"), "--first-sample", "3"), "needs --ci-groups"),
    ]
    for args, words in cases:
        p = run("compute", *args, ok=False)
        assert p.returncode == 2, (args, p.stderr)
        assert words in p.stderr, (args, p.stderr)
    assert not os.path.exists(os.path.join(tmp, "s.mirstate"))


def same_interval(a, b, tol=1e-12):
    assert a["level"] == b["level"] and a["groups"] == b["groups"]
    assert rel(a["std_error"], b["std_error"]) <= tol, (a["std_error"], b["std_error"])
    # The bias, (G - 1)(mean - full), and an end near 0 are differences of nearby numbers: compared on
    # the scale of the numbers they come from.
    scale = max(abs(a["lower"]), abs(a["upper"]))
    for key in ("lower", "upper"):
        assert abs(a[key] - b[key]) <= tol * scale, (key, a[key], b[key])
    assert abs(a["bias"] - b["bias"]) <= tol * a["groups"] * max(abs(v) for v in a["leave_out"])
    assert len(a["leave_out"]) == len(b["leave_out"])
    for x, y in zip(a["leave_out"], b["leave_out"]):
        assert rel(x, y) <= tol, (x, y)


def grouped_shards(tmp, shards, groups, report=(), offsets=None, tag="", first=()):
    """The sharded protocol (docs/merging.md) with jackknife groups: pass 1 of shard k with
    --first-sample (its first file's index over all shards), later passes --resume; returns the
    final merge's JSON and the merged state."""
    from test_merge import state_meta
    starts = offsets or [sum(len(s) for s in shards[:k]) for k in range(len(shards))]
    state, p = None, 1
    while True:
        parts = []
        for k, files in enumerate(shards):
            out = os.path.join(tmp, f"{tag}shard{k}_pass{p}.mirstate")
            extra = ["--resume", state] if state else ["--ci-groups", str(groups), "--first-sample", str(starts[k]),
                                                       *first]
            run("compute", *files, "--save-state", out, "--quiet", *extra)
            parts.append(out)
        meta = state_meta(parts[0])
        assert meta["groups"] == groups, meta["groups"]
        merged = os.path.join(tmp, f"{tag}merged_pass{p}.mirstate")
        if p >= 2 and p >= meta["passes_expected"]:
            j = json.loads(run("merge", *parts, "--save-state", merged, "--json", "-", "--quiet", *report).stdout)
            return j, merged
        run("merge", *parts, "--save-state", merged, "--quiet")
        state, p = merged, p + 1
        assert p <= 6


def test_ci_of_merged_shards_equals_one_process(tmp, result_schema):
    files = example_files()
    for policy in ("replace-median", "drop"):
        single = compute_json(*files, "--outliers", policy, "--ci", "0.9", "--ci-groups", "3")
        shards = [files[:3], files[3:4], files[4:]]  # group boundaries fall inside the shards
        merged, state = grouped_shards(tmp, shards, 3, ["--ci", "0.9"], tag=policy, first=["--outliers", policy])
        result_schema("merge", merged)
        assert rel(merged["mir"], single["mir"]) <= 1e-12
        same_interval(merged["ci"], single["ci"])
        assert merged["ci"]["samples"] == 8
        for a, b in zip(merged["layers"], single["layers"]):
            same_interval(a["ci"], b["ci"])
        # The merged state, reported again: the same interval.
        again = json.loads(run("merge", state, "--ci", "0.9", "--json", "-", "--quiet").stdout)
        same_interval(again["ci"], single["ci"])


def test_grouped_shards_out_of_place_are_refused(tmp):
    files = example_files()
    a, b = os.path.join(tmp, "a.mirstate"), os.path.join(tmp, "b.mirstate")
    run("compute", *files[:4], "--save-state", a, "--ci-groups", "3", "--quiet")
    run("compute", *files[4:], "--save-state", b, "--ci-groups", "3", "--quiet")  # --first-sample 4 forgotten
    p = run("merge", a, b, "--save-state", os.path.join(tmp, "m.mirstate"), ok=False)
    assert p.returncode != 0 and "--first-sample 4" in p.stderr, p.stderr
    c = os.path.join(tmp, "c.mirstate")
    run("compute", *files[4:], "--save-state", c, "--ci-groups", "4", "--first-sample", "4", "--quiet")
    p = run("merge", a, c, "--save-state", os.path.join(tmp, "m.mirstate"), ok=False)
    assert p.returncode != 0 and "jackknife groups 4" in p.stderr, p.stderr
    # States without groups: --ci has nothing to work from.
    plain = [os.path.join(tmp, f"p{k}.mirstate") for k in range(2)]
    run("compute", *files[:4], "--save-state", plain[0], "--outliers", "none", "--quiet")
    run("compute", *files[4:], "--save-state", plain[1], "--outliers", "none", "--quiet")
    m = os.path.join(tmp, "pm.mirstate")
    run("merge", *plain, "--save-state", m, "--quiet")
    nxt = [os.path.join(tmp, f"q{k}.mirstate") for k in range(2)]
    run("compute", *files[:4], "--save-state", nxt[0], "--resume", m, "--quiet")
    run("compute", *files[4:], "--save-state", nxt[1], "--resume", m, "--quiet")
    p = run("merge", *nxt, "--ci", "0.95", ok=False)
    assert p.returncode == 2 and "no jackknife groups" in p.stderr, p.stderr
    # A resumed grouped shard with files that were not its own in pass 1.
    g = os.path.join(tmp, "g.mirstate")
    b4 = os.path.join(tmp, "b4.mirstate")
    run("compute", *files[4:], "--save-state", b4, "--ci-groups", "3", "--first-sample", "4", "--quiet")
    run("merge", a, b4, "--save-state", g, "--quiet")
    p = run("compute", *files[1:5], "--save-state", os.path.join(tmp, "r.mirstate"), "--resume", g,
            "--first-sample", "0", ok=False)
    assert p.returncode == 2 and "--first-sample 0" in p.stderr, p.stderr


def test_track_ci_from_dumps_results_and_states(tmp, result_schema):
    files = example_files()
    d1, d2 = os.path.join(tmp, "checkpoint-100"), os.path.join(tmp, "checkpoint-200")
    for d, chosen in ((d1, files), (d2, files[::-1])):
        os.makedirs(d)
        for i, f in enumerate(chosen):
            os.symlink(f, os.path.join(d, f"s{i}.safetensors"))
    res = os.path.join(tmp, "checkpoint-300.json")
    run("compute", *files, "--outliers", "none", "--ci", "0.95", "--ci-groups", "4", "--json", res, "--quiet")
    _, state = grouped_shards(tmp, [files[:5], files[5:]], 4, tag="t")
    st = os.path.join(tmp, "checkpoint-400.safetensors")
    os.rename(state, st)
    j = json.loads(run("track", d1, d2, res, st, "--ci", "0.95", "--ci-groups", "4", "--json", "-").stdout)
    result_schema("track", j)
    single = compute_json(d1, "--ci", "0.95", "--ci-groups", "4")
    c = j["checkpoints"]
    same_interval(c[0]["ci"], single["ci"])
    same_interval(c[3]["ci"], single["ci"])  # the state: the same files, groups and policy
    assert c[2]["ci"]["lower"] == json.load(open(res))["ci"]["lower"]
    assert rel(c[1]["mir"], single["mir"]) < 1e-12 and c[1]["ci"]["leave_out"] != single["ci"]["leave_out"]
    for layer, ref in zip(c[0]["layers"], single["layers"]):
        same_interval(layer["ci"], ref["ci"])
    table = run("track", d1, res, st, "--ci", "0.95", "--ci-groups", "4").stdout
    assert "ci_lo" in table and ("%10.4f" % single["ci"]["lower"]) in table
    svg = os.path.join(tmp, "t.svg")
    run("track", d1, res, st, "--ci", "0.95", "--ci-groups", "4", "--plot", svg)
    assert "95% CI lower" in open(svg).read()
    # A result without an interval, and one at another level.
    plain = os.path.join(tmp, "checkpoint-500.json")
    run("compute", *files, "--json", plain, "--quiet")
    for path, words in ((plain, "has no interval"), (res, "at level 0.95")):
        p = run("track", d1, path, "--ci", "0.9" if path == res else "0.95", ok=False)
        assert p.returncode == 1 and words in p.stderr, p.stderr


def test_compare_is_the_paired_jackknife_of_the_two_sides(tmp, result_schema):
    from scipy import stats
    files = example_files()
    other = os.path.join(tmp, "other")
    run("synth", other, "--samples", "8", "--num-layers", "6", "--dim", "64", "--vision-tokens", "24",
        "--text-tokens", "30-50", "--seed", "5")
    a = compute_json(*files, "--ci", "0.95", "--ci-groups", "4")
    b = compute_json(other, "--ci", "0.95", "--ci-groups", "4")
    j = json.loads(run("compare", os.path.dirname(files[0]), other, "--ci-groups", "4", "--json", "-").stdout)
    result_schema("compare", j)
    assert j["groups"] == 4 and j["samples"] == 8 and j["method"] == "paired-grouped-jackknife"
    d = j["difference"]
    assert rel(d["estimate"], a["mir"] - b["mir"]) < 1e-12
    lo = [x - y for x, y in zip(a["ci"]["leave_out"], b["ci"]["leave_out"])]
    assert all(abs(x - y) < 1e-12 for x, y in zip(d["leave_out"], lo))
    mean = sum(lo) / 4
    se = math.sqrt(3 / 4 * sum((v - mean) ** 2 for v in lo))
    centre = (a["mir"] - b["mir"]) - 3 * (mean - (a["mir"] - b["mir"]))
    assert rel(d["std_error"], se) < 1e-9
    assert rel(d["t_statistic"], centre / se) < 1e-9
    assert abs(d["p_value"] - 2 * stats.t.sf(abs(centre / se), 3)) < 1e-8
    assert d["significant"] == (d["p_value"] < 0.05)
    for layer, la, lb in zip(j["layers"], a["layers"], b["layers"]):
        assert layer["fid_a"] == la["fid"] and layer["fid_b"] == lb["fid"]
    # From result JSONs (and one side's JSON with the other's dumps): the same comparison.
    ja, jb = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
    json.dump(a, open(ja, "w"))
    json.dump(b, open(jb, "w"))
    for x, y in ((ja, jb), (ja, other)):
        k = json.loads(run("compare", x, y, "--json", "-").stdout)
        assert rel(k["difference"]["p_value"], d["p_value"]) < 1e-12, (x, y)
        assert rel(k["difference"]["lower"], d["lower"]) < 1e-12
    # A model against itself: no difference, p = 1.
    out = run("compare", ja, ja).stdout
    assert "p = 1;" in out and "within the noise" in out
    # Mismatches are usage errors that say what differs.
    fewer = os.path.join(tmp, "fewer")
    run("synth", fewer, "--samples", "6", "--num-layers", "6", "--dim", "64", "--seed", "5")
    p = run("compare", other, fewer, ok=False)
    assert p.returncode == 2 and "same samples" in p.stderr, p.stderr
    j3 = os.path.join(tmp, "a3.json")
    run("compute", *files, "--ci", "0.95", "--ci-groups", "3", "--json", j3, "--quiet")
    p = run("compare", j3, jb, ok=False)
    assert p.returncode == 2 and "same --ci-groups" in p.stderr, p.stderr
