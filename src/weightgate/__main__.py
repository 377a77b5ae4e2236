import sys

from weightgate.cli import main

sys.exit(main())
