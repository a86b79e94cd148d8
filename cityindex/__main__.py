import sys

from cityindex.cli import main

sys.exit(main())
