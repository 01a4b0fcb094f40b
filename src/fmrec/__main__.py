"""Allow ``python -m fmrec``."""

import sys

from fmrec.cli.main import main

sys.exit(main())
