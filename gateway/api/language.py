"""Which language a request is answered in.

Pages follow the user's switch (a cookie the header's switch sets), else the site's language: a page
is the site's, whatever the browser's locale. The API's human-readable messages follow the request's
Accept-Language, else the site's. Machine fields are never translated.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.i18n import Language, negotiate, parse_language

LANGUAGE_COOKIE = "lang"
# A year: the choice is remembered on this browser until the user switches again.
LANGUAGE_COOKIE_MAX_AGE = 365 * 86400


def request_language(request: Request, site_language: Language) -> Language:
    if request.url.path.startswith("/api/"):
        return negotiate(request.headers.get("accept-language")) or site_language
    return parse_language(request.cookies.get(LANGUAGE_COOKIE)) or site_language
