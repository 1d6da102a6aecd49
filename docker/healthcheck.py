"""Container health check: exit 0 only while GET /health/ready answers 200.

Ready, not merely alive: the model is loaded and warm and the server is not draining, so "healthy" in
docker means "can take traffic". The port comes from the service's own settings class, so MOTIVNET_PORT
means the same thing here as in the server; the address is loopback whatever MOTIVNET_HOST binds.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

READY_PATH = "/health/ready"
TIMEOUT_SECONDS = 4.0


def ready_url() -> str:
    from service.config import Settings

    return f"http://127.0.0.1:{Settings().port}{READY_PATH}"


def main() -> int:
    url = ready_url()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:  # 503 while loading, warming up or draining
        status = exc.code
    except OSError as exc:  # refused, reset, timed out
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
