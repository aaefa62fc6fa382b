"""pytest options and shared fixtures for tests/program: where the mir binary and tests/data are.

    python3 -m pytest tests/program --mir build/tools/mir/mir --data tests/data [-k NAME]
"""
import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--mir", help="the mir program to test")
    parser.addoption("--data", help="mir's tests/data directory (golden dumps and expected.json)")


@pytest.fixture(scope="session")
def mir_paths(pytestconfig):
    """(mir binary, tests/data, tests/data/golden), absolute (some tests run elsewhere)."""
    mir, data = pytestconfig.getoption("mir"), pytestconfig.getoption("data")
    if not mir or not data:
        pytest.exit("tests/program needs --mir MIR_BINARY and --data DATA_DIR", returncode=2)
    mir, data = os.path.abspath(mir), os.path.abspath(data)
    return mir, data, os.path.join(data, "golden")


@pytest.fixture
def tmp(tmp_path):
    """A fresh scratch directory per test, as a string."""
    return str(tmp_path)
