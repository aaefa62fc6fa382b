"""`--progress`: what `mir compute` (and `moca-init`) shows while it runs (pytest; ctest label `program`).

On a pseudo-terminal (util-linux `script`, in every Debian) the progress line
must be redrawn several times before the first layer ends; `--progress json`
lines must parse and never go backwards; without a terminal, auto shows
nothing; and showing progress changes no number.
"""
import json
import os
import shlex
import shutil
import subprocess

import pytest

from test_program import run, numbers, program_paths  # noqa: F401  (the fixture sets MIR)
import test_program


def make_dumps(tmp, files=12, layers=3, dim=24):
    dumps = os.path.join(tmp, "dumps")
    run("synth", dumps, "--num-layers", str(layers), "--dim", str(dim), "--samples", str(files),
        "--vision-tokens", "24", "--text-tokens", "20-30", "--seed", "11")
    return dumps


def test_progress_json_lines_parse_and_never_go_backwards(tmp):
    dumps = make_dumps(tmp)
    p = run("compute", dumps, "--progress", "json", "--progress-interval", "0", "--threads", "2", "--json", "-")
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    updates = [json.loads(l) for l in lines]  # every line is one JSON object
    assert len(updates) > 3 * 12, len(updates)  # at least one per file and pass of every layer
    for key in ("elapsed_s", "layers_done", "bytes_done", "fraction"):
        values = [u[key] for u in updates]
        assert values == sorted(values), (key, values)
    last = updates[-1]
    assert last["event"] == "done" and last["fraction"] == 1.0 and last["layers_done"] == last["layers"] == 3
    assert all("event" not in u for u in updates[:-1])
    assert last["bytes_done"] > 0 and last["files"] == 12
    stages = {f["stage"] for u in updates for f in u["in_flight"]}
    assert {"norms", "moments"} <= stages <= {"norms", "moments", "median", "square-root"}, stages
    for u in updates:
        assert 0 <= u["fraction"] <= 1 and u["bytes_done"] <= u["bytes_expected"]
        for f in u["in_flight"]:
            assert 1 <= f["pass"] <= f["passes"] or f["stage"] == "square-root", f
            assert f.get("files_done", 0) <= 12
    # Showing progress changes no number.
    quiet = json.loads(run("compute", dumps, "--json", "-", "--quiet").stdout)
    assert numbers(json.loads(p.stdout)) == numbers(quiet)


def test_progress_auto_is_silent_without_a_terminal(tmp):
    dumps = make_dumps(tmp, files=3)
    p = run("compute", dumps, "--progress", "auto", "--progress-interval", "0")
    assert p.stderr == "", p.stderr
    assert "MIR" in p.stdout


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux script(1) is not installed")
def test_progress_on_a_terminal_moves_before_the_first_layer_ends(tmp):
    dumps = make_dumps(tmp)
    cmd = shlex.join([test_program.MIR, "compute", dumps, "--layers", "1,2", "--threads", "1",
                      "--progress-interval", "0"])
    # script(1) runs the command on a pseudo-terminal: --progress auto sees a TTY.
    p = subprocess.run(["script", "-q", "-f", "-e", "-c", cmd, "/dev/null"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    segments = [s.strip() for s in p.stdout.replace("\n", "\r").split("\r")]
    progress = [s for s in segments if s.startswith("mir: ")]
    before_first_layer = [s for s in progress if s.startswith("mir: 0/2 layers")]
    assert len(set(before_first_layer)) >= 5, progress  # several distinct updates while layer 1 runs
    assert any("pass 1/2 norms" in s for s in before_first_layer), before_first_layer
    assert any("pass 2/2 moments" in s for s in before_first_layer), before_first_layer
    assert any("/12 files" in s for s in before_first_layer), before_first_layer
    assert any(s.startswith("mir: 1/2 layers") for s in progress), progress
    assert any(s.startswith("mir: 2 layers, 12 files,") for s in progress), progress  # the summary line
    assert "MIR" in p.stdout  # the table follows on the same terminal


def test_moca_init_shows_the_same_progress(tmp):
    # moca-init reads every decoder layer's hidden states as compute does: the same progress, by index i+1.
    dumps = make_dumps(tmp, files=5)
    out = os.path.join(tmp, "moca.safetensors")
    p = run("moca-init", dumps, "--out", out, "--progress", "json", "--progress-interval", "0", "--json", "-")
    updates = [json.loads(l) for l in p.stderr.splitlines() if l.strip()]
    assert updates[-1]["event"] == "done" and updates[-1]["layers_done"] == updates[-1]["layers"] == 3
    for key in ("elapsed_s", "layers_done", "bytes_done", "fraction"):
        values = [u[key] for u in updates]
        assert values == sorted(values), (key, values)
    assert {f["layer"] for u in updates for f in u["in_flight"]} == {1, 2, 3}
    assert json.loads(p.stdout)["num_layers"] == 3
    # --quiet: nothing on stderr; auto without a terminal: nothing either.
    for extra in (["--quiet"], []):
        q = run("moca-init", dumps, "--out", out, *extra)
        assert q.stderr == "", q.stderr
