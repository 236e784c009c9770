"""Prepare the letter fonts: subsets of the installed faces of settings.DEFAULT_FONTS in
templates/assets/fonts/ (see src/dunning/fonts.py). Run by scripts/setup.sh and `make fonts`;
silent when they are up to date. `--force` rebuilds every face."""

import sys

from dunning.fonts import main

if __name__ == "__main__":
    sys.exit(main())
