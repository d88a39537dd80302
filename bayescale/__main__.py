import sys

from bayescale._src.cli import main

sys.exit(main())
