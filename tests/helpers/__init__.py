"""Plain helpers the tests import; fixtures live in the conftest files."""
