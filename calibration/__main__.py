import sys

from nxport.calibration.cli import main

sys.exit(main())
