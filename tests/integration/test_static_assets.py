"""Static assets: served from the package (htmx from its npm package, copied at build time), linked
with a content fingerprint so browsers cache them for a year, and nothing else is reachable."""

from __future__ import annotations

import re

from tests.integration.conftest import Api


def test_pages_link_fingerprinted_assets_cached_for_a_year(api: Api) -> None:
    status, _, page = api("GET", "/")
    assert status == 200
    links = dict(re.findall(r'"/static/([a-z.]+)\?v=([0-9a-f]{12})"', page))
    assert {"app.css", "htmx.min.js", "inbox.js"} <= set(links)
    for name, version in links.items():
        status, headers, body = api("GET", f"/static/{name}", f"v={version}", user=None)
        assert status == 200
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers["ETag"] == f'"{version}"'
        assert body
    status, headers, _ = api("GET", "/static/app.css", "v=stale0000000", user=None)
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=300"  # an old link: don't pin it
    assert b"htmx" in api("GET", "/static/htmx.min.js", user=None)[2]


def test_only_static_files_are_served(api: Api) -> None:
    for name in ["..%2Fapp.py", ".hidden.js", "app.py", "nothing.css", "%2Fetc%2Fpasswd"]:
        status, _, _ = api("GET", f"/static/{name}", user=None)
        assert status == 404, name
