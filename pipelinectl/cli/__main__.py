"""`python -m pipelinectl.cli`: the same as the `pipelinectl` console script."""

from __future__ import annotations

import sys

from pipelinectl.cli.main import main

sys.exit(main())
