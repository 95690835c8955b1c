"""The seed's entry point: `python claire_cli.py replay ...` works as the seed documents it."""

from claire.cli.app import main

if __name__ == "__main__":
    main()
