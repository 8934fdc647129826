"""``python -m cohort``: the same program as the ``cohort`` command."""

import sys

from cohort.cli import main

if __name__ == "__main__":
    sys.exit(main())
