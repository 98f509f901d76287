"""Adapters: the only code that talks to git, docker, registries and clusters.

Each takes its client or configuration as an argument and turns third-party exceptions into
pipelinectl errors at its boundary.
"""
