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
    def __init__(self, url: str, keys: dict[str, str], ledger: str, process: Any) -> None:
        self.url, self.keys, self.ledger, self.process = url, keys, ledger, process

    def client(self, key: str | None = "crm") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dunning: Dunning) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("service")
    keys_file = folder / "keys.yaml"
    keys = {"crm": add_key(keys_file, "crm", ["mingtai", "jinqiao"], BRANDS),
            "hk": add_key(keys_file, "hk-desk", ["lungmun"], BRANDS)}
    ledger = f"sqlite:///{folder / 'ledger.sqlite'}"
    port = _free_port()
    exe = Path(sys.executable).with_name("dunning")
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--workers", "1", "--keys", str(keys_file),
         "--ledger", ledger], stdout=log, stderr=subprocess.STDOUT)
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
    yield Server(url, keys, ledger, process)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


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


def test_not_json_is_422(server: Server) -> None:
    with server.client() as client:
        response = client.post("/v1/letters", content=b"\xff\xfe",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert json.loads(response.text)["title"] == "Not a record"
