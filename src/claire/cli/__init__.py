"""The command line; entry point `claire` -> claire.cli.app:main."""
