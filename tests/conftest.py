"""Shared pytest setup. Rig fixtures live in tests/rig/ (plain modules, no tests)."""
pytest_plugins = ["tests.rig.fixtures"]
