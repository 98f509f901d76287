"""Reading pipeline.yaml and the platform config: safe YAML, schema, typed model, checks, policy."""
