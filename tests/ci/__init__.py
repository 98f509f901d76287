"""The CI templates (GitLab, GitHub) and the tool image, run for real."""
