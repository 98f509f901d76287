"""Rendering: pure functions from a validated pipeline to Kubernetes objects and DAG files."""
