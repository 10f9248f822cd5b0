import sys

from coursetools.cli import main

sys.exit(main())
