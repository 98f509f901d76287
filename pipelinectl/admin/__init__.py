"""What the platform team applies: per-team manifests, Airflow RBAC and chart values."""
