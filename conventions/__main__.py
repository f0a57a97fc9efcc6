"""python -m conventions FILE.onnx [--json] [--image PATH] [--no-runtime] [--profile image|text]"""

import sys

from conventions.cli import main

sys.exit(main())
