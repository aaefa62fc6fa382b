"""`mir compute --ci`: the grouped jackknife's interval (pytest; ctest label
`program`). Checked through the program itself: with one file per group and
no outlier rule, the value without group g is exactly the MIR `mir compute`
gives on the other files; the standard error and interval follow from the
leave-outs by the jackknife's formula and Student's t (scipy); the JSON
validates; bad requests are usage errors that say what is wrong.
"""
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
        ((*files, "--ci", "0.95", "--save-state", os.path.join(tmp, "s.mirstate")), "one process"),
    ]
    for args, words in cases:
        p = run("compute", *args, ok=False)
        assert p.returncode == 2, (args, p.stderr)
        assert words in p.stderr, (args, p.stderr)
    assert not os.path.exists(os.path.join(tmp, "s.mirstate"))
