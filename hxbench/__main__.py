import sys

from hxbench.cli import main

sys.exit(main())
