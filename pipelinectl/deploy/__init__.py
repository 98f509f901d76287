"""Desired against recorded state: guard, preflight, apply, prune, record, through ports."""
