import sys

from nxport.cli import main

sys.exit(main())
