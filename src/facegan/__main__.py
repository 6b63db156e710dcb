"""`python -m facegan` is the `facegan` command."""

import sys

from facegan.cli import main

sys.exit(main())
