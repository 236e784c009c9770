"""The OpenAPI 3.1 document of the letter service (``GET /openapi.json``), written from the
record format (:data:`dunning.records.FIELDS`) and the routes of :mod:`dunning.serve`;
``tests/test_service.py`` checks that both agree and runs schemathesis against it."""

from __future__ import annotations

from typing import Any

from .records import FIELDS, FLAGS, REQUIRED

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {400: "Bad request", 401: "No API key, or a wrong one",
             403: "The record's brand is not one of the key's",
             404: "No such letter for this key", 409: "No letter: the record is suppressed "
             "(code: the reason; for recent_notice, a letter was sent within the interval)",
             413: "Body over 64 KiB", 422: "Not a valid record (errors: each field problem)",
             429: "Every renderer busy and the queue full (Retry-After)",
             500: "The letter could not be made", 503: "Starting or draining (Retry-After)",
             504: "The letter took longer than its time limit"}
    return {str(code): _problem(texts[code]) for code in codes}


def document() -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "object",
        "description": "One record in the public record format (docs/domain.md §3): amounts "
                       "as decimal strings, dates as YYYY-MM-DD, plus the request's as_of and "
                       "override_reason.",
        "properties": {
            **{name: ({"type": ["boolean", "string"]} if name in (*FLAGS, "compound")
                      else {"type": "string"}) for name in FIELDS},
            "as_of": {"type": "string", "format": "date",
                      "description": "The date the letter speaks from (default: today)."},
            "override_reason": {"type": "string", "minLength": 1,
                                "description": "Make the letter although one was sent "
                                               "within the minimum interval; recorded."},
        },
        "required": list(REQUIRED),
    }
    body = {"required": True, "content": {"application/json": {"schema": record}}}
    security: list[dict[str, list[str]]] = [{"bearer": []}]
    letter_headers = {name: {"schema": {"type": "string"}} for name in (
        "X-Letter-Reference", "X-Letter-Stage", "X-Letter-Version", "X-Letter-Pages",
        "X-Letter-Sha256", "Location")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "dunning letter service", "version": "1",
                 "description": "Formal overdue-notice letters on demand (docs/service.md)."},
        "paths": {
            "/v1/letters": {"post": {
                "operationId": "makeLetter", "security": security, "requestBody": body,
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": False,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
                    {"name": "X-Request-Id", "in": "header", "required": False,
                     "schema": {"type": "string"}}],
                "responses": {
                    "201": {"description": "The letter: its PDF (Accept: application/pdf) or "
                                           "its entry", "headers": letter_headers,
                            "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/Letter"}},
                                        "application/pdf": {"schema": {
                                            "type": "string", "format": "binary"}}}},
                    **_errors(401, 403, 409, 413, 422, 429, 500, 503, 504)}}},
            "/v1/plans": {"post": {
                "operationId": "planLetter", "security": security, "requestBody": body,
                "responses": {"200": {"description": "What the letter would say",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/Plan"}}}},
                              **_errors(401, 403, 413, 422)}}},
            "/v1/letters/{letter_id}": {"get": {
                "operationId": "getLetter", "security": security,
                "parameters": [{"name": "letter_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The letter's PDF",
                                      "content": {"application/pdf": {"schema": {
                                          "type": "string", "format": "binary"}}}},
                              **_errors(401, 404)}}},
            "/v1/accounts/{account_id}/letters": {"get": {
                "operationId": "accountLetters", "security": security,
                "parameters": [{"name": "account_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The account's letters (of the key's "
                                                     "brands), oldest first",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/History"}}}},
                              **_errors(401)}}},
            "/healthz": {"get": {"operationId": "health", "responses": {
                "200": {"description": "Alive", "content": {"application/json": {
                    "schema": {"type": "object"}}}}}}},
            "/readyz": {"get": {"operationId": "ready", "responses": {
                "200": {"description": "Renderers warm", "content": {"application/json": {
                    "schema": {"type": "object"}}}},
                **_errors(503)}}},
            "/metrics": {"get": {"operationId": "metrics", "responses": {
                "200": {"description": "Prometheus text format", "content": {
                    "text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"operationId": "openapi", "responses": {
                "200": {"description": "This document", "content": {"application/json": {
                    "schema": {"type": "object"}}}}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key (dunning keys add)"}},
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status"],
                            "properties": {
                                "type": {"type": "string"}, "title": {"type": "string"},
                                "status": {"type": "integer"}, "detail": {"type": "string"},
                                "code": {"type": "string"},
                                "earlier": {"type": "object", "properties": {
                                    "as_of": {"type": "string"},
                                    "reference": {"type": "string"}}},
                                "errors": {"type": "array", "items": {
                                    "type": "object", "properties": {
                                        "field": {"type": "string"},
                                        "problem": {"type": "string"},
                                        "accepted": {"type": "string"}}}}}},
                "Letter": {"type": "object",
                           "required": ["id", "account_id", "outcome", "url", "sha256"],
                           "properties": {
                               "id": {"type": "integer"}, "account_id": {"type": "string"},
                               "outcome": {"const": "rendered"}, "url": {"type": "string"},
                               "reference": {"type": "string"}, "version": {"type": "integer"},
                               "stage": {"type": "string"}, "locale": {"type": "string"},
                               "pages": {"type": "integer"}, "sha256": {"type": "string"},
                               "total": {"type": "string"}, "currency": {"type": "string"},
                               "capped": {"type": "boolean"}}},
                "Plan": {"type": "object", "required": ["account_id", "as_of", "stage"],
                         "properties": {"account_id": {"type": "string"},
                                        "as_of": {"type": "string"},
                                        "stage": {"type": ["string", "null"]},
                                        "suppression": {"type": ["string", "null"]},
                                        "items": {"type": "object"},
                                        "options": {"type": ["object", "null"]}}},
                "History": {"type": "object", "required": ["account_id", "letters"],
                            "properties": {"account_id": {"type": "string"},
                                           "letters": {"type": "array",
                                                       "items": {"type": "object"}}}},
            },
        },
    }
