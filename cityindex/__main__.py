import sys

from cityindex.app.cli import main

sys.exit(main())
