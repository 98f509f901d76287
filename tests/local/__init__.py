"""Local runs in docker, and the examples end to end."""
