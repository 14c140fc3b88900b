"""create_app(config): the one place that wires the gateway's parts together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import RequestResponseEndpoint

from gateway import __version__, i18n, web
from gateway.api.errors import install_error_handlers
from gateway.api.language import request_language
from gateway.api.routes import (
    analytics,
    audit,
    cameras,
    events,
    health,
    live,
    metrics,
    ptz,
    recordings,
    reports,
    system,
    tickets,
    uplinks,
    users,
)
from gateway.compose import running_gateway
from gateway.config import GatewayConfig
from gateway.i18n import DEFAULT_LANGUAGE
from gateway.runtime import Runtime
from gateway.sessions import SESSION_COOKIE
from gateway.streams.sources import SourceFactory, rtsp_source_factory
from gateway.web import routes as web_routes

log = logging.getLogger(__name__)

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Every asset is served by the gateway itself; nothing may load from elsewhere.
_CSP = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; frame-ancestors 'none'"
# Swagger UI's page starts itself with an inline script.
_CSP_DOCS = _CSP + "; script-src 'self' 'unsafe-inline'"
# Static files are the same for everyone and safe to cache.
_CACHEABLE_PREFIXES = (web.ASSETS_PREFIX + "/", "/docs-assets/")
# Routes that answer without credentials; everything else under these prefixes needs a token or session.
_API_PREFIXES = ("/api/", "/metrics")


def _refusal(request: Request) -> str | None:
    """Why an API request's credentials are refused, or None when they are good (or not needed here).

    FastAPI reads and parses a body before it resolves the route's dependencies, so without this
    check an anonymous client, or one with a made-up token, could make the API parse its uploads and
    learn its validation rules (a 400 or 422 instead of the 401). Blocking: call from a thread.
    """
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if not request.url.path.startswith(_API_PREFIXES) or runtime is None:
        return None
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return i18n.gettext("missing bearer token")
        user = runtime.users.authenticate(token.strip())
        if user is None:
            return i18n.gettext("invalid or revoked token")
        # The route's dependency takes it from here instead of looking the token up a second time.
        request.state.token_user = user
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return i18n.gettext("missing bearer token")
    session = runtime.sessions.get(cookie)
    if session is None:
        return i18n.gettext("signed out: the session ended or expired")
    request.state.session = session
    return None


def create_app(
    config: GatewayConfig,
    *,
    start_cameras: bool = True,
    source_factory: SourceFactory = rtsp_source_factory,
) -> FastAPI:
    """Build the application. Nothing starts until the ASGI lifespan does (no work at import or here)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_gateway(config, start_cameras=start_cameras, source_factory=source_factory) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Site video gateway",
        version=__version__,
        description="Camera health, HD coverage and uplinks for a site's video surveillance.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        # The route's own dependencies check again (and roles, grants, CSRF): this only refuses early.
        runtime = getattr(request.app.state, "runtime", None)
        site_language = runtime.config.site.language if runtime is not None else DEFAULT_LANGUAGE
        # The route and everything it calls (error messages included) speak the request's language.
        with i18n.using(request_language(request, site_language)):
            refused = await asyncio.to_thread(_refusal, request)
            if refused is not None:
                response: Response = JSONResponse(
                    {"error": refused}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
            else:
                response = await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        # A route may set a stricter policy of its own (the HTML report: inline styles, nothing else).
        if "content-security-policy" not in response.headers:
            response.headers["Content-Security-Policy"] = _CSP_DOCS if request.url.path == "/docs" else _CSP
        # Answers carry camera state, people's pictures and user lists: no shared or disk cache may keep
        # them. Routes that know better (immutable event snapshots, assets) set their own.
        if "cache-control" not in response.headers and not request.url.path.startswith(_CACHEABLE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        # No server software name or version for a scanner to match against known bugs.
        if "server" in response.headers:
            del response.headers["server"]
        return response

    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(cameras.router)
    app.include_router(users.router)
    app.include_router(health.router)
    app.include_router(reports.router)
    app.include_router(events.router)
    app.include_router(analytics.router)
    app.include_router(uplinks.router)
    app.include_router(metrics.router)
    app.include_router(audit.router)
    app.include_router(live.router)
    app.include_router(recordings.router)
    app.include_router(ptz.router)
    app.include_router(tickets.router)
    app.include_router(web_routes.router)
    app.mount(web.ASSETS_PREFIX, StaticFiles(directory=web.STATIC_DIR), name="assets")
    # Swagger UI from an installed package, not a CDN: the edge box may have no internet at all.
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Site video gateway API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    return app
