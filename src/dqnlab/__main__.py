"""`python -m dqnlab`: the `dqnlab` command."""

import sys

from dqnlab.cli import main

sys.exit(main())
