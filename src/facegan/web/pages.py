"""The HTML pages: the game, the lesson, a fresh face, the explorer, the statistics, the API reference.

Pages are rendered on the server from Jinja2 templates; the game and the explorer add small
scripts (no inline script, see the CSP). The explorer works without JavaScript too: its form
reloads the page with the new settings.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facegan.errors import ConfigError
from facegan.web.models import Psi, RenderIn, Seed
from facegan.web.render import ROTATE_MAX, SEED_MAX, TRANSLATE_MAX
from facegan.web.services import Svc
from facegan.web.strictjson import jsonable
from facegan.web.tells import ARCH_NOTES, TELL_NAMES, TELLS

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
# The lesson's truncation strip: one face at several psi.
PSI_STRIP = (0.0, 0.5, 0.7, 1.0)
PSI_STRIP_SEED = 7


def page(request: Request, name: str, status: int = 200, headers: dict | None = None, **context) -> HTMLResponse:
    svc = request.app.state.services
    return svc.templates.TemplateResponse(request, name, {"path": request.url.path, **context}, status_code=status,
                                          headers=headers)


@router.get("/", response_class=HTMLResponse)
def game_page(request: Request, svc: Svc):
    return page(request, "game.html", tells=TELLS, tell_names=TELL_NAMES, psi_range=svc.settings.psi_range)


@router.get("/learn", response_class=HTMLResponse)
def learn_page(request: Request, svc: Svc):
    net = svc.renderer.info
    return page(request, "learn.html", tells=TELLS, arch_note=ARCH_NOTES.get(net.arch, ""),
                psi_strip=PSI_STRIP, psi_strip_seed=PSI_STRIP_SEED, psi_range=svc.settings.psi_range,
                preview=net.resolution > svc.settings.preview_resolution)


@router.get("/random", response_class=HTMLResponse)
def random_page(request: Request, svc: Svc, seed: Annotated[Seed | None, Query()] = None,
                psi: Annotated[Psi | None, Query()] = None):
    fresh = seed is None
    seed = secrets.randbelow(SEED_MAX + 1) if seed is None else seed
    psi = svc.settings.random_psi if psi is None else psi
    return page(request, "random.html", headers=NO_STORE if fresh else None, seed=seed, psi=psi, fresh=fresh)


@router.get("/explore", response_class=HTMLResponse)
def explore_page(request: Request, q: Annotated[RenderIn, Query()], svc: Svc):
    net = svc.renderer.info
    # Settings that do not fit this network are shown with the reason instead of an image.
    params = q.params()
    error = None
    try:
        svc.renderer.check(params)
    except ConfigError as exc:
        error = str(exc)
    # The links carry translate and rotate only when they move the image (StyleGAN3).
    unmoved = {k for k in ("translate_x", "translate_y", "rotate") if not getattr(q, k)}
    query = q.model_dump(by_alias=True, exclude_none=True, exclude={"preview", *unmoved})
    return page(request, "explore.html", q=q, query=query, error=error, noise_modes=("const", "random", "none"),
                max_cutoff=net.num_ws, preview=net.resolution > svc.settings.preview_resolution,
                translate_max=TRANSLATE_MAX, rotate_max=ROTATE_MAX)


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, svc: Svc):
    return page(request, "stats.html", headers=NO_STORE, stats=svc.storage.stats(), tell_names=TELL_NAMES)


@router.get("/api", response_class=HTMLResponse)
def api_page(request: Request):
    schema = request.app.openapi()
    return page(request, "api.html", schema=schema, operations=list(_operations(schema)))


def _operations(schema: dict):
    """Every documented endpoint, digested for the template: parameters, body fields, responses."""
    components = schema.get("components", {}).get("schemas", {})
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = [{"name": p["name"], "where": p["in"], "required": p.get("required", False),
                       "type": schema_text(p.get("schema", {}), components),
                       "description": p.get("description") or p.get("schema", {}).get("description", "")}
                      for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            fields = None
            if body is not None:
                body = resolve(body, components)
                required = set(body.get("required", []))
                fields = [{"name": name, "required": name in required, "type": schema_text(prop, components),
                           "description": prop.get("description", "")}
                          for name, prop in body.get("properties", {}).items()]
            responses = [{"code": code, "description": r.get("description", ""),
                          "types": ", ".join(r.get("content", {}))} for code, r in op.get("responses", {}).items()]
            yield {"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                   "description": op.get("description", ""), "params": params, "body": fields,
                   "responses": responses}


def resolve(schema: dict, components: dict) -> dict:
    ref = schema.get("$ref")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def schema_text(schema: dict, components: dict) -> str:
    """A short human description of a JSON schema: 'integer, 0 to 4294967295', 'one of a, b'."""
    schema = resolve(schema, components)
    if "anyOf" in schema:
        parts = [schema_text(s, components) for s in schema["anyOf"]]
        return " or ".join(p for p in parts if p != "null") + (", optional" if "null" in parts else "")
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", schema.get("title", "object"))
    bounds = [f"\u2265 {schema['minimum']:g}" if "minimum" in schema else "",
              f"\u2264 {schema['maximum']:g}" if "maximum" in schema else "",
              f"pattern {schema['pattern']}" if "pattern" in schema else ""]
    text = ", ".join([str(kind), *[b for b in bounds if b]])
    if "default" in schema and schema["default"] is not None:
        text += f", default {schema['default']}"
    return text


API_PREFIXES = ("/api/", "/healthz", "/static/", "/openapi.json")


def wants_html(request: Request) -> bool:
    """Errors of pages are pages; errors of the API (and of clients that ask only for JSON) stay JSON."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or "application/json" not in accept


def error_response(request: Request, status: int, message: str, headers: dict | None = None):
    """An error answer in the form the client reads: an HTML page for people, JSON for the API."""
    if wants_html(request):
        return page(request, "error.html", status=status, headers=headers, status_code=status, message=message)
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def validation_problems(exc: RequestValidationError) -> list[dict]:
    """The errors of a validation failure as JSON values, whatever the invalid input was (NaN, bytes, ...)."""
    return [jsonable({k: v for k, v in error.items() if k != "url"}) for error in exc.errors()]


def install_error_pages(app) -> None:
    """Error handlers that work on any input: HTML pages for people, JSON for the API."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        headers = getattr(exc, "headers", None)
        if not wants_html(request) and not isinstance(exc.detail, str):
            return JSONResponse({"detail": jsonable(exc.detail)}, status_code=exc.status_code, headers=headers)
        return error_response(request, exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = validation_problems(exc)
        if not wants_html(request):
            return JSONResponse({"detail": problems}, status_code=422)
        text = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'request'}: {e.get('msg', '')}"
                         for e in problems)
        return page(request, "error.html", status=422, status_code=422, message=f"Invalid request: {text}")
