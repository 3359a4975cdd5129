"""`python -m lfm ...`: the command line of LFM Entropy Lab (see lfm/cli.py)."""
import sys

from .cli import main

sys.exit(main())
