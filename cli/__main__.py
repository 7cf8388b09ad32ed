"""``python -m greentwin.cli`` runs the command line."""

import sys

from greentwin.cli.main import main

sys.exit(main())
