"""GET /: the demo page (photos, video files, webcam), static files shipped inside the package.

The page runs only its own script and style (a strict Content-Security-Policy), so it has no inline code and
talks to no host but this one; `MOTIVNET_DEMO=false` leaves it out for deployments that want only the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"

# 'self' covers ws:// and wss:// to this origin (CSP level 3), which the webcam mode's WebSocket needs.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The one HTML page; its script and style come from /static."""
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


def install_page(app: FastAPI) -> None:
    """Adds the page and its static files to the app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
