"""`python -m llm_drift_otel ...` is the `llm-drift-otel` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
