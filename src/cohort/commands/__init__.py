"""Subcommands of the ``cohort`` program, one module each.

A module here defines ``NAME`` (the subcommand), ``HELP`` (one line), ``register(parser)``
that adds its arguments to an ``argparse`` subparser, and ``run(args) -> int``. The CLI
discovers the modules, so adding a subcommand means adding a module.
"""
