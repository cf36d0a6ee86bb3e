"""``python -m podium.proxy [--workers N]``: the proxy process, configured by PODIUM_*."""

from __future__ import annotations

import argparse

from podium.config import Settings
from podium.proxy.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m podium.proxy")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    settings = Settings()
    serve(settings, workers=args.workers or settings.proxy_workers)


if __name__ == "__main__":
    main()
