"""Turn errors into JSON answers with a clear message; never send a traceback to a client.

The messages are in the request's language (gateway/api/language.py): a GatewayError's text was made
in it where it was raised; the framework's own texts (HTTP reason phrases, pydantic's validation
messages) are translated here. The `error` key and the answer's structure never change.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.common.redact import mask_text
from gateway.api.language import request_language
from gateway.config.messages import validation_message
from gateway.errors import AuthError, GatewayError
from gateway.i18n import DEFAULT_LANGUAGE, N_, Language, _, gettext, using

log = logging.getLogger(__name__)

#: Starlette's default details (the HTTP reason phrases) of the statuses the gateway answers with.
HTTP_PHRASES: Final = frozenset(
    {
        N_("Bad Request"),
        N_("Unauthorized"),
        N_("Forbidden"),
        N_("Not Found"),
        N_("Method Not Allowed"),
        N_("Not Acceptable"),
        N_("Conflict"),
        N_("Content Too Large"),
        N_("Request Entity Too Large"),
        N_("Unsupported Media Type"),
        N_("Unprocessable Content"),
        N_("Unprocessable Entity"),
        N_("Too Many Requests"),
        N_("Internal Server Error"),
        N_("Service Unavailable"),
    }
)


def _language(request: Request) -> Language:
    # The catch-all handler runs outside the middleware that sets the request's language.
    runtime = getattr(request.app.state, "runtime", None)
    site_language: Language = runtime.config.site.language if runtime is not None else DEFAULT_LANGUAGE
    return request_language(request, site_language)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
        return JSONResponse({"error": mask_text(str(exc))}, status_code=exc.http_status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if detail in HTTP_PHRASES:
            with using(_language(request)):
                detail = gettext(detail)
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        with using(_language(request)):
            problems = [
                {
                    "where": ".".join(str(p) for p in err.get("loc", ())),
                    "message": validation_message(str(err.get("type", "")), str(err.get("msg", "")), err.get("ctx")),
                }
                for err in exc.errors()
            ]
            return JSONResponse({"error": _("invalid request"), "problems": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s: %s", request.method, request.url.path, mask_text(repr(exc)))
        with using(_language(request)):
            return JSONResponse({"error": _("internal error")}, status_code=500)
