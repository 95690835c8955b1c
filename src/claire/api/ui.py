"""The timeline UI's static files at /ui/ (claire/ui: HTML, CSS, ES modules, vendored charts).

The files themselves are open, like /docs: they hold no data. Every data request the page
makes goes to the API and needs the read token when one is set (the page asks for it).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

UI_DIRECTORY = Path(__file__).resolve().parent.parent / "ui"

# script-src 'self': even a rendering bug could not run an injected inline handler.
# style-src needs 'unsafe-inline' for the chart library's canvas sizing styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (cheap: ETag): a new version of the package is never half-loaded.
    "Cache-Control": "no-cache",
}


class UiFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        if path.endswith((".js", ".mjs")):
            response.headers["Content-Type"] = "text/javascript; charset=utf-8"
        elif path.endswith(("LICENSE", "NOTICE")):
            response.headers["Content-Type"] = "text/plain; charset=utf-8"
        return response


def mount_ui(app: FastAPI) -> None:
    """Serve the UI at /ui/ (and send / and /ui there)."""

    @app.get("/ui", include_in_schema=False)
    @app.get("/", include_in_schema=False)
    def to_ui() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    app.mount("/ui", UiFiles(directory=UI_DIRECTORY, html=True), name="ui")
