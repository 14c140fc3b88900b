"""create_app(config): the one place that wires the gateway's parts together."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import RequestResponseEndpoint

from gateway import __version__, web
from gateway.api.errors import install_error_handlers
from gateway.api.routes import (
    analytics,
    audit,
    cameras,
    events,
    health,
    live,
    metrics,
    reports,
    system,
    uplinks,
    users,
)
from gateway.auth import UserStore
from gateway.config import GatewayConfig
from gateway.health.history import HistoryWriter
from gateway.health.policy import HealthPolicy
from gateway.health.state import HealthTracker
from gateway.health.uptime import HistoryReader
from gateway.pipeline.readers import SourceFactory, rtsp_source_factory
from gateway.runtime import Runtime
from gateway.storage.db import Database
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


def create_app(
    config: GatewayConfig,
    *,
    start_cameras: bool = True,
    source_factory: SourceFactory = rtsp_source_factory,
) -> FastAPI:
    """Build the application. Nothing starts until the ASGI lifespan does (no work at import or here)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(config.storage.url).open()
        history = HistoryWriter(db, instance=f"{config.site.id}@{socket.gethostname()}")
        run_id = history.start(policy=HealthPolicy.from_config(config).describe())
        # Cameras start the run in its first instant, so the run has no unexplained gap in its history.
        tracker = HealthTracker(
            [c.id for c in config.cameras],
            since=history.started_at,
            disabled=frozenset(c.id for c in config.cameras if not c.enabled),
        )
        tracker.subscribe(history.record_state)
        tracker.subscribe_quality(history.record_quality)
        runtime = Runtime(
            config=config,
            db=db,
            users=UserStore(db),
            tracker=tracker,
            history=history,
            reader=HistoryReader(db, current_run_id=run_id),
            source_factory=source_factory,
        )
        app.state.runtime = runtime
        log.info(
            "gateway %s: site %s, %d camera(s), storage %s, run %d",
            __version__,
            config.site.id,
            len(config.cameras),
            db.display_url,
            run_id,
        )
        await runtime.start(cameras=start_cameras)
        try:
            yield
        finally:
            await runtime.stop()
            history.close()
            db.close()
            log.info("gateway stopped")

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
        response = await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        # A route may set a stricter policy of its own (the HTML report: inline styles, nothing else).
        if "content-security-policy" not in response.headers:
            response.headers["Content-Security-Policy"] = _CSP_DOCS if request.url.path == "/docs" else _CSP
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
