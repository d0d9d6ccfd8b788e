"""What several test modules share that is not a fixture (fixtures live in tests/conftest.py):
one module per concern, imported as `from helpers.stepper import replay`. No test module imports
another one (tests/test_suite.py checks it)."""
