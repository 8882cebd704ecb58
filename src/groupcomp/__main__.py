"""``python -m groupcomp`` = the ``groupcomp`` command."""

import sys

from groupcomp.cli import main

if __name__ == "__main__":
    sys.exit(main())
