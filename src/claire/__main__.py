"""`python -m claire ...` runs the `claire` command line."""

from claire.cli.app import main

if __name__ == "__main__":
    main()
