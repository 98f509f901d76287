"""The build wing: build inputs, digests, .dockerignore, and real builds."""
