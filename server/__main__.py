"""``python -m greentwin.server`` runs the command line."""

import sys

from greentwin.server.cli import main

sys.exit(main())
