"""The spec wing: YAML loader, schema, checks, policy, the invalid-spec corpus."""
