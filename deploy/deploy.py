#!/usr/bin/env python3
"""Install torbox on a router over SSH and apply a configuration, with rollback.

    deploy/deploy.py --host 192.168.8.1 --config my-torbox.uci

See `deploy/deploy.py --help` for every flag and the exit codes.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from torbox_deploy.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
