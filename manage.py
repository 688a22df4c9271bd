#!/usr/bin/env python
"""Same as the `circulus` command installed in the virtual environment."""

from circulus.cli import main

if __name__ == "__main__":
    main()
