"""`mpirun -np N mir compute --mpi DUMPS` (pytest; ctest label `program`):
the files shared among N ranks, every pass merged across them, must give
what one `mir compute DUMPS` gives — to 1e-12 relative, for every outlier
policy and dtype — and rank 0 alone writes. Skipped, saying so, where mpirun
is missing or mir was built without MPI.
"""
import json
import os
import shutil
import subprocess

import pytest

from test_program import compute_json, program_paths  # noqa: F401  (the fixture sets MIR)
import test_program
from test_merge import same_result, dump_files


def mpirun(np, *args, ok=True, env_extra=None):
    cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(np), test_program.MIR, *args]
    env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1", **(env_extra or {}))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if ok and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    if not ok and p.returncode == 0:
        raise AssertionError(f"{' '.join(cmd)} should have failed:\n{p.stdout}")
    return p


@pytest.fixture(scope="module")
def with_mpi():
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (Debian: openmpi-bin): the MPI tests did not run")
    p = subprocess.run([test_program.MIR, "compute", os.path.join(test_program.GOLDEN, "f16_small"), "--mpi",
                        "--quiet"], capture_output=True, text=True)
    if "built without MPI" in p.stderr:
        pytest.skip("this mir was built without MPI (MIR_BUILD_MPI=OFF): the MPI tests did not run")


def test_mpi_ranks_equal_one_process(with_mpi, result_schema):
    for name in ("f16_small", "bf16_small", "f32_wide"):
        d = os.path.join(test_program.GOLDEN, name)
        for policy in ("replace-median", "drop", "none"):
            single = compute_json(d, "--outliers", policy)
            for np in (2, 3):
                p = mpirun(np, "compute", d, "--mpi", "--outliers", policy, "--json", "-", "--quiet")
                j = json.loads(p.stdout)  # rank 0 alone writes: one document
                same_result(j, single)
                result_schema("compute", j)
                assert j["options"]["mpi"] is True
                assert [f["path"] for f in j["inputs"]["files"]] == dump_files(name)


def test_mpi_ci_equals_one_process(with_mpi, result_schema):
    # Rank r's block of files begins at file n r / N: its samples keep their groups (i mod G).
    from test_uncertainty import same_interval, example_files
    files = example_files()
    for policy in ("replace-median", "drop"):
        single = compute_json(*files, "--outliers", policy, "--ci", "0.95", "--ci-groups", "3")
        for np in (2, 3):
            # Every state sent in 4099-byte pieces (MIR_MPI_CHUNK_BYTES): the path a state over 1 GiB takes.
            j = json.loads(mpirun(np, "compute", *files, "--mpi", "--outliers", policy, "--ci", "0.95",
                                  "--ci-groups", "3", "--json", "-", "--quiet",
                                  env_extra={"MIR_MPI_CHUNK_BYTES": "4099"}).stdout)
            result_schema("compute", j)
            same_result(j, single)
            same_interval(j["ci"], single["ci"])
            for a, b in zip(j["layers"], single["layers"]):
                same_interval(a["ci"], b["ci"])


def test_mpi_fp32_square_roots_and_a_single_rank(with_mpi, tmp):
    d = os.path.join(test_program.GOLDEN, "f32_wide")
    j = json.loads(mpirun(2, "compute", d, "--mpi", "--precision", "fp32", "--layers", "all", "--json", "-",
                          "--quiet").stdout)
    same_result(j, compute_json(d, "--precision", "fp32", "--layers", "all"), tol=1e-5)
    j = json.loads(mpirun(3, "compute", d, "--mpi", "--sqrt", "newton-schulz", "--json", "-", "--quiet").stdout)
    same_result(j, compute_json(d, "--sqrt", "newton-schulz"))
    # One rank (and no mpirun at all: a singleton) is the plain computation.
    out = os.path.join(tmp, "r.json")
    test_program.run("compute", d, "--mpi", "--json", out, "--quiet")
    same_result(json.load(open(out)), compute_json(d))


def test_mpi_errors_end_every_rank(with_mpi, tmp):
    # More ranks than files: a usage error on every rank, no hang.
    d = os.path.join(test_program.GOLDEN, "f32_wide")  # 4 files
    p = mpirun(5, "compute", d, "--mpi", ok=False)
    assert "4 file(s) for 5 ranks" in p.stderr, p.stderr
    # Files of two models: named with their ranks.
    mixed = os.path.join(tmp, "mixed")
    os.makedirs(mixed)
    for src, name in ((dump_files("f16_small")[0], "a.safetensors"), (dump_files("f32_wide")[0], "b.safetensors")):
        shutil.copy(src, os.path.join(mixed, name))
    p = mpirun(2, "compute", mixed, "--mpi", ok=False)
    assert "rank 1" in p.stderr and "b.safetensors" in p.stderr and "a.safetensors" in p.stderr, p.stderr
    p = test_program.run("compute", d, "--mpi", "--save-state", os.path.join(tmp, "s"), ok=False)
    assert "--mpi" in p.stderr and "--save-state" in p.stderr, p.stderr
