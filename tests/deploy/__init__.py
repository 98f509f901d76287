"""The deploy wing: engine, state, adapters for clusters and DAG delivery."""
