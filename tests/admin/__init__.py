"""What the platform team applies: manifests, Airflow RBAC and chart values."""
