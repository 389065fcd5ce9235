"""Subcommands of ``tickwire``.

Each module here is one subcommand and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (a callable taking the parsed namespace and returning an exit
code). ``tickwire.cli`` discovers the modules, so adding a command is adding a file.
"""
