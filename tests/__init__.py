"""pipelinectl's tests: one folder per stage wing (see tests/conftest.py)."""
