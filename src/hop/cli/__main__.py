"""``python -m hop.cli`` runs the ``hop`` program."""

import sys

from hop.cli import main

sys.exit(main())
