"""`python -m bench` (what `make bench` runs): every benchmark with its default size."""

from __future__ import annotations

import sys

from bench import archive


def main() -> int:
    archive.main(sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
