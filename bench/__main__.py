"""`python -m bench`: every benchmark, printed as one JSON document."""

from __future__ import annotations

import json
import sys

from bench import ingest


def main() -> None:
    results = {"ingest": ingest.run()}
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
