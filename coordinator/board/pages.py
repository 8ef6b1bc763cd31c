"""What every page route shares: templates, the page route class (a person who is not logged in
is sent to the login form instead of getting a JSON 401), and the authentication helper for
long-lived responses."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


class PageRoute(APIRoute):
    """A GET page that fails authentication redirects to `/login?next=…`; one that needs a new
    password redirects there; a refusal (403) is a small HTML page with the same status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if request.method != "GET" or not _wants_html(request):
                    raise
                location = (exc.headers or {}).get("Location")
                if exc.status_code == status.HTTP_401_UNAUTHORIZED:
                    target = request.url.path
                    if request.url.query:
                        target += "?" + request.url.query
                    return RedirectResponse(
                        f"/login?next={quote(target)}", status.HTTP_303_SEE_OTHER
                    )
                if location:
                    return RedirectResponse(location, status.HTTP_303_SEE_OTHER)
                return templates.TemplateResponse(
                    request,
                    "error.html",
                    {"status": exc.status_code, "detail": exc.detail},
                    status_code=exc.status_code,
                )

        return page_handler


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a template with what every page needs (the user, the CSRF token, and the time
    zone the people are in, so a page shows times there whatever the browser's zone)."""
    base = {
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "timezone": request.app.state.services.settings.timezone,
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status_code)
