"""python -m conventions PATH... (see conventions/cli.py for the options and exit codes)"""

import sys

from conventions.cli import main

sys.exit(main())
