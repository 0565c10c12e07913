"""The standing adversarial suite: each test is an attack or a hostile input, and asserts the
outcome a user relies on (exit code, one line, run status, files untouched, no code run)."""
