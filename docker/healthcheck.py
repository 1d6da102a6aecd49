"""Container health check: exit 0 only while GET /health/ready answers 200.

Ready, not merely alive: the model is loaded and warm and the server is not draining, so "healthy" in
docker means "can take traffic". The address is loopback whatever MOTIVNET_HOST binds.

Standard library only, so each probe starts in a few tens of milliseconds: importing the service's settings
class pulls in torch (seconds on a busy host, past the 5 s probe timeout, so the container never turned
healthy). The port is therefore read from MOTIVNET_PORT here; tests/deploy checks the default agrees.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

READY_PATH = "/health/ready"
DEFAULT_PORT = 8000  # motivnet_serve.settings.Settings.port's default
TIMEOUT_SECONDS = 4.0


def ready_url() -> str:
    port = int(os.environ.get("MOTIVNET_PORT", DEFAULT_PORT))
    return f"http://127.0.0.1:{port}{READY_PATH}"


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
