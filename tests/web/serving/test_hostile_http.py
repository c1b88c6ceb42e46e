"""Hostile HTTP against a real `govflow serve`: odd paths and query values, deep JSON, huge bodies,
cross-site requests and wrong content types each get a 4xx with a message, never a 500; a busy port
is exit 2 with a message.

Two servers per module: one with no token yet (anonymous /predict from 127.0.0.1, the case a web page
could abuse), one with an operator and an auditor token.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from tests.web.serving.helpers import GOVFLOW, SYSTEM, counts, free_port, put_in_production, records, server

MAX_BODY = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Ledger]]:
    """A server with no token: /predict answers 127.0.0.1 without one."""
    ledger = Ledger.open(home=tmp_path_factory.mktemp("open") / "home")
    put_in_production(ledger)
    try:
        with server(ledger) as (base, _):
            yield base, ledger
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], int]]:
    """A server with tokens: (base URL, {role: Authorization header}, server pid)."""
    ledger = Ledger.open(home=tmp_path_factory.mktemp("tokens") / "home")
    put_in_production(ledger)
    headers = {role: f"Bearer {tokens.create_token(ledger, role=role, label=None, created_by='test')[0]}"
               for role in ("operator", "auditor")}
    try:
        with server(ledger) as (base, process):
            yield base, headers, process.pid
    finally:
        ledger.close()


def problem(response: httpx.Response) -> str:
    """The ``detail`` of an error answer, as text."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    try:
        detail = response.json()["detail"]
    except ValueError:
        return response.text
    return detail if isinstance(detail, str) else json.dumps(detail)


# -- 10. no 500s ---------------------------------------------------------------------------------

AUDIT_CASES = [
    ("/audit/models/credit-scoring/%C2%B2", 422, "version '²': a number (1, 2, ...), 'latest' or 'production'"),
    ("/audit/models/credit-scoring/%D9%A1", 422, "version '١': a number (1, 2, ...), 'latest' or 'production'"),
    ("/audit/models/credit-scoring/99999999999999999999999", 422, "a number (1, 2, ...), 'latest' or 'production'"),
    ("/audit/models/%00/1", 400, "NUL"),
    ("/audit/predictions/abc%00def", 400, "NUL"),
    ("/audit/predictions?system=%00", 400, "NUL"),
    ("/audit/predictions?limit=99999999999999999999999", 422, "limit: between 1 and 1000"),
    ("/audit/predictions?limit=-1", 422, "limit: between 1 and 1000"),
    ("/audit/predictions?limit=NaN", 422, "limit"),
    ("/audit/predictions?since=0001-01-01T00:00:00%2B01:00", 422, "since: an RFC 3339 time"),
    ("/audit/predictions?until=9999-12-31T23:59:59-01:00", 422, "until: an RFC 3339 time"),
]


@pytest.mark.parametrize(("path", "status", "message"), AUDIT_CASES)
def test_audit_paths_and_queries(token_server: tuple[str, dict[str, str], int], path: str, status: int,
                                 message: str) -> None:
    base, headers, _ = token_server
    response = httpx.get(base + path, headers={"Authorization": headers["auditor"]}, timeout=30)
    assert response.status_code == status, response.text[:500]
    assert message in problem(response)


DASHBOARD_CASES = [
    ("/dashboard/credit-scoring?days=99999999999", "days: a whole number of days from 1 to 36600"),
    ("/dashboard?days=99999999999", "days: a whole number of days from 1 to 36600"),
    ("/dashboard?days=0", "days: a whole number of days from 1 to 36600"),
    ("/dashboard?days=-3", "days: a whole number of days from 1 to 36600"),
    ("/dashboard/credit-scoring?days=NaN", "days"),
    ("/dashboard/credit-scoring?days=1e400", "days"),
    ("/dashboard/credit-scoring?days=%D9%A1%D9%A2", "days"),
    ("/dashboard?end=0001-01-01", "end: a date from 1970-01-01 to 9000-01-01"),
    ("/dashboard/credit-scoring?end=0001-01-01", "end: a date from 1970-01-01 to 9000-01-01"),
    ("/dashboard/credit-scoring?end=9999-12-31T23:59:59", "end: a date from 1970-01-01 to 9000-01-01"),
    ("/dashboard/credit-scoring?end=2026-05-01T00:00:00-23:59", ""),
    ("/dashboard/credit-scoring?end=1970-01-01&days=36600", ""),
    ("/dashboard/credit-scoring?end=9000-01-01T00:00:00Z&days=36600&bucket=36600d", ""),
    ("/dashboard/credit-scoring?days=36600&bucket=1m", ""),
    ("/dashboard?end=1970-01-01&days=36600", ""),
    ("/dashboard/credit-scoring?bucket=36601d", "bucket: at most 36600 days"),
    ("/dashboard/credit-scoring?end=%D9%A2%D9%A0%D9%A2%D9%A6-01-01", "is not an ISO 8601 date"),
    ("/dashboard/credit-scoring?bucket=99999999999d", "bucket"),
    ("/dashboard/credit-scoring?bucket=0m", "bucket"),
    ("/dashboard/credit-scoring?bucket=-5m", "bucket"),
    ("/dashboard/credit-scoring?bucket=nanm", "bucket"),
    ("/dashboard/credit-scoring?bucket=%D9%A1h", "bucket"),
    ("/dashboard/%00", "NUL"),
]


@pytest.mark.parametrize(("path", "message"), DASHBOARD_CASES)
def test_dashboard_queries(token_server: tuple[str, dict[str, str], int], path: str, message: str) -> None:
    base, headers, _ = token_server
    response = httpx.get(base + path, headers={"Authorization": headers["auditor"]}, timeout=60)
    if not message:  # an edge that is fine: it must answer, not fail
        assert response.status_code == 200, response.text[:500]
        return
    assert message in problem(response)


def test_audit_and_dashboard_edges_on_both_backends(served: tuple[Ledger, Any]) -> None:
    ledger, _ = served
    auditor = {"Authorization": f"Bearer {tokens.create_token(ledger, role='auditor', label=None, created_by='test')[0]}"}
    with server(ledger) as (base, _):
        for path, status, message in AUDIT_CASES:
            response = httpx.get(base + path, headers=auditor, timeout=60)
            assert response.status_code == status, (path, response.text[:300])
            assert message in problem(response), path
        for path, message in DASHBOARD_CASES:
            response = httpx.get(base + path, headers=auditor, timeout=60)
            assert response.status_code == 200 if not message else message in problem(response), (path, response.text[:300])


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(("body", "status", "message"), [
    (nested(100_000), 400, "nested more than"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, "nested more than"),
    (b'{"records":' + nested(50_000) + b"}", 400, "nested more than"),
    (b"1" * 5000, 400, "not valid JSON"),
])
def test_deep_or_huge_json(open_server: tuple[str, Ledger], body: bytes, status: int, message: str) -> None:
    base, ledger = open_server
    before = counts(ledger)
    response = httpx.post(f"{base}/predict/{SYSTEM}", content=body, headers={"Content-Type": "application/json"},
                          timeout=60)
    assert response.status_code == status, response.text[:500]
    assert message in problem(response)
    assert counts(ledger) == before


@pytest.mark.parametrize("value", [
    "nested", "NaN", "Infinity", "1e400", "-1e400", "99999999999999999999999999999",
])
def test_odd_values_in_a_record(open_server: tuple[str, Ledger], value: str) -> None:
    base, ledger = open_server
    record: dict[str, Any] = records(1)[0]
    text = json.dumps(record)
    literal = "[" * 500 + "1" + "]" * 500 if value == "nested" else value
    bodies = [text.replace('"duration_in_month": ' + str(record["duration_in_month"]), f'"duration_in_month": {literal}'),
              text.replace('"age_in_years": ' + str(record["sensitive"]["age_in_years"]), f'"age_in_years": {literal}')]
    for body in bodies:
        assert literal in body
        response = httpx.post(f"{base}/predict/{SYSTEM}", content=body, headers={"Content-Type": "application/json"},
                              timeout=60)
        assert response.status_code < 500, response.text[:500]
        if response.status_code != 200:
            assert problem(response)


def unstorable_bodies() -> dict[str, bytes]:
    """Bodies JSON accepts whose text cannot be stored: a NUL (PostgreSQL text refuses it) or half a
    surrogate pair (no UTF-8 for it, so nothing to hash)."""
    record = records(1)[0]
    text = json.dumps(record)
    purpose, sex = json.dumps(record["purpose"]), json.dumps(record["sensitive"]["personal_status_and_sex"])
    return {"a feature": text.replace(purpose, '"\\ud800"').encode(),
            "a sensitive attribute": text.replace(sex, '"x\\udc00"').encode(),
            "the subject id": (text[:-1] + ', "subject_id": "\\ud83d"}').encode(),
            "a key": (text[:-1] + ', "\\udfff": 1}').encode(),
            "a NUL subject id": (text[:-1] + ', "subject_id": "a\\u0000b"}').encode(),
            "a NUL in a batch": ("[" + text + "," + text.replace(sex, '"\\u0000"') + "]").encode()}


@pytest.mark.parametrize("where", list(unstorable_bodies()))
def test_text_that_cannot_be_stored_is_400(open_server: tuple[str, Ledger], where: str) -> None:
    base, ledger = open_server
    before = counts(ledger)
    response = httpx.post(f"{base}/predict/{SYSTEM}", content=unstorable_bodies()[where],
                          headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 400, response.text[:300]
    message = problem(response)
    assert message.startswith("the request body holds a string with ")
    assert ("a NUL character" if "NUL" in where else "an unpaired surrogate (\\ud800-\\udfff)") in message
    assert counts(ledger) == before


def test_unstorable_text_on_both_backends(served: tuple[Ledger, Any]) -> None:
    ledger, _ = served
    with server(ledger) as (base, _):
        before = counts(ledger)
        for where, body in unstorable_bodies().items():
            response = httpx.post(f"{base}/predict/{SYSTEM}", content=body, headers={"Content-Type": "application/json"},
                                  timeout=60)
            assert response.status_code == 400, (where, response.text[:300])
        assert counts(ledger) == before
        emoji = json.dumps({**records(1)[0], "subject_id": "applicant \U0001f600"})  # an escaped surrogate *pair*
        assert "\\ud83d\\ude00" in emoji
        response = httpx.post(f"{base}/predict/{SYSTEM}", content=emoji, headers={"Content-Type": "application/json"},
                              timeout=60)
        assert response.status_code == 200, response.text


# -- 11. the body limit while reading ----------------------------------------------------------

def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def answered(sock: socket.socket) -> bytes:
    """Whatever the server has answered so far (b"" when nothing yet)."""
    ready, _, _ = select.select([sock], [], [], 0)
    return sock.recv(65536) if ready else b""


def stream(base: str, auth: str, head: str, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send the request head, then the chunks, until the server answers; (its answer, bytes of body sent)."""
    host, port = base.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall((f"POST /predict/{SYSTEM} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                      f"Authorization: {auth}\r\n{head}\r\n").encode())
        reply = b""
        for chunk in chunks:
            reply = answered(sock)
            if reply:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        sock.settimeout(30)
        while True:  # the rest of the answer: the server closes the connection after it
            try:
                more = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not more:
                break
            reply += more
        return reply, sent


def test_a_300_mb_chunked_body_is_refused_as_it_arrives(token_server: tuple[str, dict[str, str], int]) -> None:
    base, headers, pid = token_server
    before = rss_kib(pid)
    piece = b"[" + b"0," * (512 * 1024 - 1) + b"0"  # 1 MiB of a JSON list that never ends
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    reply, sent = stream(base, headers["operator"], "Transfer-Encoding: chunked\r\n", iter([chunk] * 300))
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert f"the request body is over {MAX_BODY} bytes".encode() in reply
    assert sent < 64 * 1024 * 1024, f"{sent} bytes were read before the 413"
    assert rss_kib(pid) - before < 80 * 1024, "the server's memory grew with the body"


def test_a_300_mb_content_length_is_refused_before_the_body(token_server: tuple[str, dict[str, str], int]) -> None:
    base, headers, _ = token_server
    piece = b" " * (1024 * 1024)
    reply, sent = stream(base, headers["operator"], f"Content-Length: {300 * 1024 * 1024}\r\n", iter([piece] * 300))
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert f"the request body is over {MAX_BODY} bytes".encode() in reply
    assert sent < 32 * 1024 * 1024


def test_a_body_within_the_limit_is_still_served(token_server: tuple[str, dict[str, str], int]) -> None:
    base, headers, _ = token_server
    response = httpx.post(f"{base}/predict/{SYSTEM}", json=records(3),
                          headers={"Authorization": headers["operator"]}, timeout=60)
    assert response.status_code == 200, response.text


# -- 12. only JSON, and only from the server's own pages ----------------------------------------

@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp",
                                          "text/json"])
def test_predict_takes_only_json(open_server: tuple[str, Ledger], content_type: str | None) -> None:
    base, ledger = open_server
    before = counts(ledger)
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(f"{base}/predict/{SYSTEM}", content=json.dumps(records(1)[0]), headers=headers, timeout=30)
    assert response.status_code == 415, response.text[:300]
    assert problem(response).startswith("send the records as JSON with Content-Type: application/json")
    assert counts(ledger) == before


def test_json_with_a_charset_is_json(open_server: tuple[str, Ledger]) -> None:
    base, _ = open_server
    response = httpx.post(f"{base}/predict/{SYSTEM}", content=json.dumps(records(1)[0]),
                          headers={"Content-Type": "application/json; charset=utf-8"}, timeout=30)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "cross-site"},
])
def test_cross_site_predictions_are_refused(open_server: tuple[str, Ledger], headers: dict[str, str]) -> None:
    base, ledger = open_server
    port = base.rsplit(":", 1)[1]
    before = counts(ledger)
    response = httpx.post(f"{base}/predict/{SYSTEM}", json=records(1)[0],
                          headers={k: v.format(port=port) for k, v in headers.items()}, timeout=30)
    assert response.status_code == 403, response.text[:300]
    assert problem(response).startswith("cross-site request refused")
    assert counts(ledger) == before


def test_a_rebound_host_name_is_refused_while_no_token_exists(open_server: tuple[str, Ledger]) -> None:
    """DNS rebinding: a page at evil.example resolved to 127.0.0.1 is same-origin to itself."""
    base, ledger = open_server
    port = base.rsplit(":", 1)[1]
    before = counts(ledger)
    response = httpx.post(f"{base}/predict/{SYSTEM}", json=records(1)[0], timeout=30,
                          headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"})
    assert response.status_code == 403, response.text[:300]
    assert "evil.example" in problem(response)
    assert counts(ledger) == before


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
                                     {"Origin": "http://localhost:{port}", "Host": "localhost:{port}"},
                                     {"Sec-Fetch-Site": "none"}])
def test_same_origin_and_plain_clients_are_served(open_server: tuple[str, Ledger], headers: dict[str, str]) -> None:
    base, _ = open_server
    port = base.rsplit(":", 1)[1]
    response = httpx.post(f"{base}/predict/{SYSTEM}", json=records(1)[0], timeout=30,
                          headers={k: v.format(port=port) for k, v in headers.items()})
    assert response.status_code == 200, response.text


def test_the_dashboard_login_refuses_cross_site_posts(token_server: tuple[str, dict[str, str], int]) -> None:
    base, headers, _ = token_server
    token = headers["auditor"].removeprefix("Bearer ")
    response = httpx.post(f"{base}/dashboard/login", data={"token": token, "next": "/dashboard"},
                          headers={"Origin": "https://evil.example"}, timeout=30)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert problem(response).startswith("cross-site request refused")


# -- 13. a busy port ------------------------------------------------------------------------------

def test_a_busy_port_is_exit_2_and_never_says_serving(open_server: tuple[str, Ledger]) -> None:
    _, ledger = open_server
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run([GOVFLOW, "--home", str(ledger.home), "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "serving" not in done.stderr + done.stdout
    assert done.stderr.strip() == (f"error: port {port} on 127.0.0.1 is already in use (another govflow serve, or "
                                   "another program): stop it, or choose another with --port")
