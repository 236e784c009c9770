"""The letter service through a real server on a loopback port and a real HTTP client."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dunning.batch import run_batch
from dunning.keys import add_key
from dunning.ledger import Ledger
from dunning.letter import Dunning

from .helpers import SAMPLE_FILES, SAMPLES_AS_OF, raw_rows, read_manifest_lines, write_export

AS_OF = SAMPLES_AS_OF.isoformat()
BRANDS = ["mingtai", "jinqiao", "lungmun", "risheng"]


def _row(sample: str, **changes: str) -> dict[str, str]:
    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == sample)
    return {k: v for k, v in {**row, **changes}.items() if v != ""}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, url: str, keys: dict[str, str], ledger: str, process: Any,
                 log: Path) -> None:
        self.url, self.keys, self.ledger, self.process = url, keys, ledger, process
        self.log = log

    def client(self, key: str | None = "crm") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def _start(folder: Path, *options: str, home: Path | None = None) -> Server:
    """``dunning serve`` on a free loopback port (with more ``options``, for the project
    folder ``home``), once its renderers are warm."""
    keys_file = folder / "keys.yaml"
    keys = {"crm": add_key(keys_file, "crm", ["mingtai", "jinqiao"], BRANDS),
            "hk": add_key(keys_file, "hk-desk", ["lungmun"], BRANDS)}
    ledger = f"sqlite:///{folder / 'ledger.sqlite'}"
    port = _free_port()
    exe = Path(sys.executable).with_name("dunning")
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [str(exe), "-v", *(["--home", str(home)] if home else []), "serve", "--port", str(port),
         "--workers", "1", "--keys", str(keys_file), "--ledger", ledger, "--queue", "4",
         "--out", str(folder / "letters"), *options], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (folder / "server.log").read_text()
        time.sleep(0.3)
    else:
        process.kill()
        raise AssertionError("the service did not get ready: "
                             + (folder / "server.log").read_text())
    log.close()
    return Server(url, keys, ledger, process, folder / "server.log")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = _start(tmp_path_factory.mktemp("service"))
    yield running
    running.process.send_signal(signal.SIGTERM)
    try:
        running.process.wait(timeout=60)
    finally:
        if running.process.poll() is None:
            running.process.kill()


def test_health_and_readiness(server: Server) -> None:
    with server.client(None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("key", [None, "wrong"])
def test_no_key_or_a_wrong_one_is_401(server: Server, key: str | None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(f"{server.url}/v1/letters", json=_row("MT-000004"),
                          headers=headers, timeout=60)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_a_brand_outside_the_key_is_403(server: Server) -> None:
    with server.client("hk") as client:
        response = client.post("/v1/letters", json={**_row("MT-000004"), "as_of": AS_OF})
    assert response.status_code == 403
    assert "mingtai" in response.json()["detail"]


def test_a_body_over_64_kib_is_413(server: Server) -> None:
    with server.client() as client:
        response = client.post("/v1/letters", content=b"{" + b" " * 70_000 + b"}",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_an_invalid_record_is_422_with_its_field_problems_and_no_personal_data(
        server: Server) -> None:
    row = _row("MT-000004", id_number="110105194912310021", fees="-5")
    with server.client() as client:
        response = client.post("/v1/letters", json={**row, "as_of": AS_OF})
    assert response.status_code == 422
    problem = response.json()
    assert {e["field"] for e in problem["errors"]} >= {"id_number", "fees"}
    text = response.text
    for personal in (row["name"], row["id_number"], row["phone"]):
        assert personal not in text


def test_the_service_gives_the_batchs_letter_and_records_it(
        server: Server, dunning: Dunning, tmp_path: Path) -> None:
    row = _row("JQ-000004")
    out = tmp_path / "batch"
    run_batch([write_export(tmp_path / "x.csv", [_row("JQ-000004")])], as_of=SAMPLES_AS_OF,
              out_dir=out, dunning=dunning, workers=1)
    (entry,) = read_manifest_lines(out)
    with server.client() as client:
        response = client.post("/v1/letters", json={**row, "as_of": AS_OF},
                               headers={"Accept": "application/pdf",
                                        "X-Request-Id": "req-jq-4"})
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert hashlib.sha256(response.content).hexdigest() == entry["sha256"]
        assert response.headers["x-letter-sha256"] == entry["sha256"]
        assert response.headers["x-letter-stage"] == entry["stage"]
        assert response.headers["x-letter-reference"] == f"{row['contract_no']}-20261120"
        again = client.get(response.headers["location"])
        assert again.status_code == 200
        assert again.content == response.content
        history = client.get("/v1/accounts/JQ-000004/letters").json()["letters"]
    assert [(h["channel"], h["sha256"]) for h in history] == [("service", entry["sha256"])]
    book = Ledger(server.ledger)
    (recorded,) = book.history("JQ-000004")
    book.close()
    assert (recorded.channel, recorded.requested_by, recorded.run_id) == (
        "service", "crm", "service-req-jq-4")


def test_the_interval_counts_the_service_and_an_override_is_recorded(server: Server) -> None:
    body = {**_row("MT-000001"), "as_of": AS_OF}
    with server.client() as client:
        first = client.post("/v1/letters", json=body)
        assert first.status_code == 201, first.text
        assert first.json()["version"] == 1
        second = client.post("/v1/letters", json=body)
        assert second.status_code == 409
        assert second.json()["code"] == "recent_notice"
        assert second.json()["earlier"] == {
            "as_of": AS_OF, "reference": f"{body['contract_no']}-20261120"}
        forced = client.post("/v1/letters", json={**body, "override_reason": "lost in post"})
        assert forced.status_code == 201, forced.text
        assert forced.json()["version"] == 2
    book = Ledger(server.ledger)
    rows = book.history("MT-000001")
    book.close()
    assert [(r.channel, r.override_reason) for r in rows] == [
        ("service", None), ("service", "lost in post")]


def test_a_plan_without_rendering(server: Server, dunning: Dunning) -> None:
    row = _row("MT-000007")
    with server.client() as client:
        response = client.post("/v1/plans", json={**row, "as_of": AS_OF})
    assert response.status_code == 200, response.text
    plan = response.json()
    from dunning.records import read_records

    record = next(r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
                  if r.account_id == "MT-000007")
    expected = dunning.plan(record, SAMPLES_AS_OF)
    assert plan["stage"] == str(expected.stage)
    assert plan["items"]["total"] == str(expected.items.total)
    assert plan["reference"] == expected.reference
    # each installment plan's schedule comes back period by period, by name, and reconciles
    plans = plan["options"]["installments"]
    assert expected.options is not None
    assert len(plans) == len(expected.options.installments) > 0
    for got, want in zip(plans, expected.options.installments, strict=True):
        assert [row["number"] for row in got["schedule"]] == list(range(1, want.months + 1))
        assert sum(Decimal(row["principal"]) for row in got["schedule"]) == want.principal
        assert got["schedule"][-1] == {
            "number": want.months, "due": want.schedule[-1].due.isoformat(),
            "principal": str(want.schedule[-1].principal),
            "interest": str(want.schedule[-1].interest),
            "payment": str(want.schedule[-1].payment), "balance": "0.00"}


def test_not_json_is_422(server: Server) -> None:
    with server.client() as client:
        response = client.post("/v1/letters", content=b"\xff\xfe",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert json.loads(response.text)["title"] == "Not a record"


def test_an_idempotency_key_gives_the_same_letter_and_records_nothing_new(
        server: Server) -> None:
    body = {**_row("JQ-000007"), "as_of": AS_OF}
    with server.client() as client:
        first = client.post("/v1/letters", json=body, headers={"Idempotency-Key": "crm-42"})
        assert first.status_code == 201, first.text
        again = client.post("/v1/letters", json=body, headers={"Idempotency-Key": "crm-42"})
        assert again.status_code == 201
        assert again.json() == first.json()
        other = client.post("/v1/letters", json={**body, "fees": "1.00"},
                            headers={"Idempotency-Key": "crm-42"})
        assert other.status_code == 422
        assert other.json()["title"] == "Idempotency-Key reused"
    book = Ledger(server.ledger)
    assert len(book.history("JQ-000007")) == 1
    book.close()


def test_metrics_count_requests_and_letters_without_keys(server: Server) -> None:
    with server.client() as client:
        client.post("/v1/letters", json={"account_id": "X"})  # 422
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert 'dunning_requests_total{route="/v1/letters",status="422"}' in text
    assert 'dunning_letters_total{outcome="rejected"}' in text
    assert "dunning_request_duration_seconds_bucket" in text
    assert "dunning_queue_depth" in text
    assert "dunning_renderer_restarts_total" in text
    for secret in server.keys.values():
        assert secret not in text


def test_the_openapi_document_names_every_route(server: Server, dunning: Dunning,
                                                tmp_path: Path) -> None:
    from dunning.keys import Keys
    from dunning.serve import create_app
    from dunning.service import LetterService

    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.1")
    service = LetterService(dunning, Keys(tmp_path / "keys.yaml", ()),
                            ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    app = create_app(service)
    served = {route.path: set(route.methods or ()) - {"HEAD"}  # type: ignore[attr-defined]
              for route in app.routes}
    service.close()
    assert {path: {m.upper() for m in ops} for path, ops in document["paths"].items()} == served


def test_a_burst_gets_429s_and_no_5xx(server: Server) -> None:
    """More requests at once than renderers and queue places: the rest are told to come
    back (429 with Retry-After), none fails."""
    import concurrent.futures
    import threading

    bodies = [{**_row("MT-000004", account_id=f"BURST-{n:03d}"), "as_of": AS_OF}
              for n in range(16)]
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, str]) -> httpx.Response:
        with server.client() as client:
            start.wait()
            return client.post("/v1/letters", json=body)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(post, bodies))
    codes = [a.status_code for a in answers]
    assert all(code in (201, 429) for code in codes), codes
    assert 429 in codes
    assert 201 in codes
    assert all(a.headers.get("retry-after") for a in answers if a.status_code == 429)


def test_sigterm_drains_the_letters_in_flight_and_exits_0(tmp_path: Path) -> None:
    import threading

    running = _start(tmp_path)
    answers: list[httpx.Response] = []

    def ask() -> None:
        with running.client() as client:
            answers.append(client.post("/v1/letters", json={**_row("JQ-000001"),
                                                             "as_of": AS_OF}))

    asking = threading.Thread(target=ask)
    asking.start()
    time.sleep(0.3)  # the request is in flight
    running.process.send_signal(signal.SIGTERM)
    ready = httpx.get(f"{running.url}/readyz", timeout=30)
    asking.join(timeout=120)
    assert running.process.wait(timeout=120) == 0
    assert ready.status_code == 503
    assert ready.json()["title"] == "Draining"
    assert [a.status_code for a in answers] == [201]


def test_schemathesis_finds_no_5xx_and_every_response_matches_the_document(
        server: Server) -> None:
    """Schemathesis generates requests from the service's own OpenAPI document (valid and
    invalid bodies, paths, headers) and checks each response: no 5xx, a documented status,
    a body that matches its schema."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import checks

    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    wanted = [checks.not_a_server_error, checks.status_code_conformance,
              checks.content_type_conformance, checks.response_schema_conformance,
              checks.response_headers_conformance]
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any, label: str = operation.label) -> None:
            try:
                case.call_and_validate(base_url=server.url, checks=wanted, headers={
                    "Authorization": f"Bearer {server.keys['crm']}"})
            except Exception as exc:  # collected, so every operation is tried
                failures.append(f"{label}: {type(exc).__name__}: {exc}")
                raise

        try:
            check()
        except Exception:
            pass
    assert failures == []


def test_a_letter_past_its_time_limit_is_504_and_its_renderer_is_replaced(
        tmp_path: Path) -> None:
    from .helpers import hanging_home

    home = hanging_home(tmp_path / "home")  # MT-000004's letter loops for hours
    running = _start(tmp_path, "--letter-timeout", "3", home=home)
    try:
        with running.client() as client:
            slow = client.post("/v1/letters", json={**_row("MT-000004"), "as_of": AS_OF})
            assert slow.status_code == 504, slow.text
            fine = client.post("/v1/letters", json={**_row("JQ-000004"), "as_of": AS_OF})
            assert fine.status_code == 201, fine.text
        metrics = httpx.get(f"{running.url}/metrics", timeout=30).text
        assert "dunning_renderer_restarts_total 1.0" in metrics
    finally:
        running.process.kill()
        running.process.wait()


def test_unknown_letters_and_other_brands_letters_are_404(server: Server) -> None:
    with server.client() as client:
        made = client.post("/v1/letters", json={**_row("MT-000010"), "as_of": AS_OF})
        assert made.status_code == 201, made.text
        url = made.json()["url"]
        assert client.get("/v1/letters/999999").status_code == 404
        assert client.get("/v1/letters/not-a-number").status_code == 404
    with server.client("hk") as other:
        assert other.get(url).status_code == 404  # a mingtai letter, for a lungmun key
        assert other.get("/v1/accounts/MT-000010/letters").json()["letters"] == []


def test_a_letter_file_swapped_for_a_device_is_not_read(server: Server) -> None:
    """A letter's file replaced by a link to /dev/zero after it was made: the service
    answers 404 at once instead of reading without end."""
    with server.client() as client:
        made = client.post("/v1/letters", json={**_row("MT-000011"), "as_of": AS_OF})
        assert made.status_code == 201, made.text
        book = Ledger(server.ledger)
        row = book.letter(made.json()["id"])
        book.close()
        assert row is not None
        assert row.file is not None
        assert row.file.is_relative_to(server.log.parent / "letters")  # --out
        row.file.unlink()
        row.file.symlink_to("/dev/zero")
        again = client.get(made.json()["url"])
    assert again.status_code == 404
    assert "is gone or is no longer a letter file" in again.text


def test_a_letter_that_cannot_be_written_is_a_500_problem_naming_the_account(
    server: Server, dunning: Dunning
) -> None:
    """A folder where the letter's file should go: the letter is made, not written, not
    recorded; the answer is a problem document, and the log says which account and why."""
    from dunning.records import validate_row

    body = _row("MT-000004", account_id="SVC-BLOCKED-1")
    record = validate_row(body, source="test", line=1, rules=dunning.record_rules())
    plan = dunning.plan(record, SAMPLES_AS_OF)
    assert plan.stage is not None
    target = (server.log.parent / "letters" / AS_OF
              / dunning.letter_file(record, str(plan.stage), 1))
    target.mkdir(parents=True)
    with server.client() as client:
        response = client.post("/v1/letters", json={**body, "as_of": AS_OF})
        assert response.status_code == 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["title"] == "Letter not written"
        assert "SVC-BLOCKED-1" in problem["detail"]
        assert client.get("/v1/accounts/SVC-BLOCKED-1/letters").json()["letters"] == []
    assert target.is_dir()
    assert f"cannot write the letter of SVC-BLOCKED-1: {target} is not a regular file" in \
        server.log.read_text("utf-8")


def test_a_failure_nobody_foresaw_is_a_problem_document_not_a_bare_500(
    tmp_path: Path,
) -> None:
    """The ledger's file overwritten while the service runs: the request fails with an RFC
    9457 problem naming its request id, and the log says which request, not what data."""
    running = _start(tmp_path)
    try:
        for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
            (tmp_path / name).write_bytes(b"not a database" * 1000)
        with running.client() as client:
            response = client.get("/v1/accounts/MT-000004/letters",
                                  headers={"X-Request-Id": "req-broken-ledger"})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Internal error"
        assert "req-broken-ledger" in response.json()["detail"]
    finally:
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(timeout=60)
    assert "GET /v1/accounts/{account_id}/letters → 500 (req-broken-ledger): OutputError: " \
        in running.log.read_text("utf-8")


def test_keys_never_reach_the_log(server: Server) -> None:
    with server.client() as client:
        client.post("/v1/letters", json={"account_id": "LOG-1"})
        made = client.post("/v1/letters", json={**_row("MT-000004", account_id="LOG-2"),
                                                 "as_of": AS_OF})
        assert made.status_code == 201, made.text
    httpx.post(f"{server.url}/v1/letters", json={}, timeout=30,
               headers={"Authorization": "Bearer dk_not-a-real-key-but-logged?"})
    text = server.log.read_text("utf-8")
    assert "POST /v1/letters → 422" in text  # the log is written, by route and status
    assert "by key crm" in text  # letters are logged with the key's name
    for secret in [*server.keys.values(), "dk_not-a-real-key-but-logged?"]:
        assert secret not in text
