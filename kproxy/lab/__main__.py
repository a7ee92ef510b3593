"""``python -m kproxy.lab``: the rule-scaling lab (see kproxy.lab.cli)."""

import sys

from kproxy.lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
