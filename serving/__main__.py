import sys

from nxport.serving.cli import main

sys.exit(main())
