"""python -m nxport.conventions PATH... (see conventions/cli.py for the options and exit codes)"""

import sys

from nxport.conventions.cli import main

sys.exit(main())
