"""pytest options for tests/program: where the mir binary and tests/data are.

    python3 -m pytest tests/program --mir build/tools/mir/mir --data tests/data [-k NAME]
"""


def pytest_addoption(parser):
    parser.addoption("--mir", help="the mir program to test")
    parser.addoption("--data", help="mir's tests/data directory (golden dumps and expected.json)")
