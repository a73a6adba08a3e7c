"""``python -m hop`` runs the ``hop`` program, as with hop-client."""

import sys

from hop.cli import main

sys.exit(main())
