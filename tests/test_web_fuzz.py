"""The API under generated input: a bounded schemathesis run over every operation (no 5xx, every
answer documented in the schema and shaped as it says), hypothesis-made bodies with the JSON that
Python accepts and JSON does not (NaN, Infinity, 1e400, huge integers: always 422), and error
handlers that work whatever the request held."""

from __future__ import annotations

import json
import math

import pytest
import schemathesis
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from facegan.web import WebSettings, create_app
from facegan.web.pages import validation_problems
from facegan.web.ratelimit import RateLimits
from facegan.web.strictjson import jsonable, strict_loads
from web_helpers import build_archive, build_network, play_round, serve_in_thread, wait_for_fakes

HOSTS = ("testserver", "localhost", "127.0.0.1")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    settings_ = WebSettings(network=build_network(root / "net.safetensors", "stylegan2", 16),
                            data=build_archive(root / "faces.zip", 6), db=root / "fuzz.sqlite", pool_size=4,
                            rate_limits=RateLimits().scaled(0), allowed_hosts=HOSTS)
    app = create_app(settings_)
    with serve_in_thread(app) as url:  # a real server on loopback; its lifespan runs the fake pool
        app.state.url = url
        wait_for_fakes(TestClient(app, base_url="http://127.0.0.1"), 2)
        yield app


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, base_url="http://127.0.0.1")


def no_server_error(ctx, response, case):
    """not_a_server_error, except the documented 503 of an empty fake pool or a busy database, which
    says when to retry."""
    if response.status_code == 503 and "retry-after" in {k.lower() for k in response.headers}:
        return None
    return not_a_server_error(ctx, response, case)


OPERATIONS = [("GET", "/api/info"), ("POST", "/api/rounds"), ("GET", "/api/images/{image_id}"),
              ("POST", "/api/answer"), ("POST", "/api/tell"), ("GET", "/api/me"), ("GET", "/api/stats"),
              ("GET", "/api/render.png"), ("POST", "/api/render"), ("GET", "/api/random.png")]


def test_the_fuzzed_operations_are_every_operation(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert sorted((m.upper(), p) for p, ms in paths.items() for m in ms) == sorted(OPERATIONS)


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_no_operation_answers_5xx_or_outside_its_schema(app, method, path):
    operation = schemathesis.openapi.from_url(app.state.url + "/openapi.json")[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=60, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(checks=[no_server_error, status_code_conformance, content_type_conformance,
                                       response_schema_conformance])
    check()


# -- JSON that Python's parser takes and JSON does not -------------------------------------------
NON_STANDARD = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 400, "1." + "0" * 200])
FINE = st.one_of(st.integers(-10, 10).map(str), st.floats(-2, 2).map(repr), st.just('"const"'), st.just("null"))


@st.composite
def bodies(draw, fields: tuple[str, ...]) -> str:
    """A JSON-like object over `fields` with at least one non-standard number in it."""
    names = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=len(fields), unique=True))
    bad = draw(st.sampled_from(names))
    parts = [f'"{n}": {draw(NON_STANDARD) if n == bad else draw(FINE)}' for n in names]
    return "{" + ", ".join(parts) + "}"


@pytest.mark.parametrize("path,fields", [
    ("/api/render", ("seed", "psi", "cutoff", "mix_seed", "class", "preview")),
    ("/api/answer", ("round", "choice")),
    ("/api/tell", ("round", "tell")),
])
def test_nan_infinity_and_overflow_in_a_body_are_422(client, path, fields):
    @given(body=bodies(fields))
    @settings(max_examples=25, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(body):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.json()["detail"][0]["type"] == "json_invalid"
    check()


@given(value=st.one_of(st.floats(), st.binary(max_size=40), st.integers(), st.text(max_size=400),
                       st.lists(st.floats(), max_size=3)))
@settings(max_examples=60, derandomize=True, database=None)
def test_the_validation_handler_reports_any_input(value):
    exc = RequestValidationError([{"type": "x", "loc": ("body", "psi"), "msg": "bad", "input": value,
                                   "ctx": {"error": ValueError(value)}}])
    text = json.dumps(validation_problems(exc), allow_nan=False)  # never fails
    assert len(text) < 2000


def test_strict_loads_takes_standard_json_and_refuses_the_rest():
    assert strict_loads(b'{"psi": 0.5, "seed": 12, "x": [1e10, -2]}') == {"psi": 0.5, "seed": 12, "x": [1e10, -2]}
    for text in ("NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "9" * 5000, b"\xff\xfe\xfd"):
        with pytest.raises(json.JSONDecodeError):
            strict_loads(text)
    assert jsonable({"a": math.nan, "b": [math.inf, b"x"], "c": 10**5000}) == \
        {"a": "nan", "b": ["inf", "b'x'"], "c": f"an integer of {(10**5000).bit_length()} bits"}


# -- pages, order of the game's answers, the schema ----------------------------------------------
@pytest.mark.parametrize("url,status", [("/no-such-page", 404), ("/random?psi=abc", 422), ("/explore?seed=-1", 422)])
@pytest.mark.parametrize("accept", [None, "*/*", "text/html,application/xhtml+xml,*/*;q=0.8"])
def test_pages_people_open_answer_errors_with_an_html_page(client, url, status, accept):
    r = client.get(url, headers={"accept": accept} if accept else {})
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in r.text.lower()


def test_the_api_answers_errors_in_json_whatever_accept_says(client):
    for accept in (None, "text/html"):
        r = client.get("/api/no-such-route", headers={"accept": accept} if accept else {})
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert client.get("/nope", headers={"accept": "application/json"}).headers["content-type"] == "application/json"


def test_answering_someone_elses_answered_round_is_403_not_409(client, app):
    round_, _ = play_round(client)
    again = client.post("/api/answer", json={"round": round_["round"], "choice": 0})
    assert again.status_code == 409  # the owner: already answered
    other = TestClient(app, base_url="http://127.0.0.1")  # another player (no cookie yet)
    for path, body in (("/api/answer", {"round": round_["round"], "choice": 0}),
                       ("/api/tell", {"round": round_["round"], "tell": "background"})):
        r = other.post(path, json=body)
        assert r.status_code == 403, (path, r.text)


def test_the_schema_documents_every_status_the_api_answers(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, methods in paths.items():
        for method, op in methods.items():
            codes = set(op["responses"])
            assert {"400", "413", "429", "503"} <= codes, (method, path, codes)
            if method == "post" and "requestBody" in op:
                assert {"415", "422"} <= codes, (method, path, codes)
    assert {"403", "404", "409", "410"} <= set(paths["/api/answer"]["post"]["responses"])
