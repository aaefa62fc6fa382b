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


@pytest.fixture(scope="session")
def result_schema(mir_paths):
    """validate(name, doc): checks `doc` against docs/schema/NAME.schema.json (which refers to
    provenance.schema.json) and fails with every error found. Debian: python3-jsonschema."""
    import json

    import jsonschema
    schemas = os.path.join(os.path.dirname(os.path.dirname(mir_paths[1])), "docs", "schema")
    store = {}
    for f in os.listdir(schemas):
        s = json.load(open(os.path.join(schemas, f)))
        store[s["$id"]] = s

    def validator(name):
        schema = json.load(open(os.path.join(schemas, name + ".schema.json")))
        resolver = jsonschema.RefResolver.from_schema(schema, store=store)  # no fetch: every $ref is in `store`
        return jsonschema.Draft202012Validator(schema, resolver=resolver)

    def validate(name, doc):
        errors = sorted(validator(name).iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, (name, [f"{list(e.path)}: {e.message}" for e in errors])

    validate.validator = validator
    return validate
