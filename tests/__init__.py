"""fgan's tests: a regular package, so that `tests.conftest` is this one even where another distribution (torch-fidelity 0.4.0) installs a top-level `tests` package."""
