"""``python -m lazyact``: the command line (see :mod:`lazyact.cli`)."""
import sys

from .cli import main

sys.exit(main())
