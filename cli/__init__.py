"""The ``greentwin`` command: convert, build, serve, demo.

Each subcommand lives in its own module (``cmd_*``); :mod:`greentwin.cli.main` parses
the arguments and maps the package's exceptions to exit codes (``greentwin.core``).
"""
