"""pipelinectl: git-driven build and deploy of R and Python data pipelines."""

__version__ = "0.1.0"
