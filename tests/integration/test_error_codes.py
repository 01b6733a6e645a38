"""Every error answer of the API carries a stable machine code beside its message, on both backends; the message
is Vietnamese by default and English with ``Accept-Language: en`` or ``?lang=en``; the app keys its own texts on
the code, so the codes are the documented list (the OpenAPI ``Error`` schema) and both languages have each."""

from __future__ import annotations

import tomllib

from reviewkit import login

from api.errors import ERROR_CODES, request_language
from maps.strings import LANGUAGES

BIG = "20240610-086300-0133700"


def _lang_files() -> dict[str, dict]:
    from importlib.resources import files
    return {lang: tomllib.loads(files("maps.strings").joinpath(f"{lang}.toml").read_text("utf-8"))
            for lang in LANGUAGES}


def test_every_code_has_a_message_in_each_language():
    errors = {lang: data["errors"] for lang, data in _lang_files().items()}
    assert set(errors["vi"]) == set(errors["en"]) == set(ERROR_CODES)
    assert {"not_found", "forbidden_unit", "forbidden_role", "login_required", "bad_credentials", "throttled",
            "stale_version", "invalid_transition", "already_in_case", "duplicate", "invalid_input", "too_large",
            "unknown_parameter", "validation_error"} <= set(ERROR_CODES)


def test_the_request_language_comes_from_lang_then_accept_language():
    from starlette.datastructures import Headers, QueryParams
    assert request_language(Headers({}), QueryParams(""), "vi") == "vi"
    assert request_language(Headers({"accept-language": "en-US,en;q=0.9"}), QueryParams(""), "vi") == "en"
    assert request_language(Headers({"accept-language": "fr, en;q=0.5, vi;q=0.8"}), QueryParams(""), "en") == "vi"
    assert request_language(Headers({"accept-language": "fr"}), QueryParams(""), "vi") == "vi"
    assert request_language(Headers({"accept-language": "vi"}), QueryParams("lang=en"), "vi") == "en"


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert body["code"] in ERROR_CODES
    return body


def test_each_error_path_answers_its_code_in_vietnamese_and_english(app_client):
    c = app_client
    admin, ranger, other, viewer = (login(c, u) for u in ("admin", "an", "binh", "viewer"))
    en = {"Accept-Language": "en"}
    vi_texts = _lang_files()["vi"]["errors"]

    # not_found: a domain 404 and the router's own 404
    body = _error(c.get("/alerts/nope"), 404, "not_found")
    assert body["detail"] == "Không tìm thấy: no alert with id 'nope'"
    assert _error(c.get("/alerts/nope", headers=en), 404, "not_found")["detail"] == "no alert with id 'nope'"
    body = _error(c.get("/no/such/route"), 404, "not_found")
    assert body["detail"] == "Không tìm thấy: no such path: GET /no/such/route"
    assert _error(c.get("/no/such/route?lang=en"), 404, "not_found")["detail"] == "no such path: GET /no/such/route"
    # method_not_allowed, unknown_parameter, invalid_input (bbox), validation_error (the list is kept)
    _error(c.delete("/alerts", headers=admin), 405, "method_not_allowed")
    body = _error(c.get("/alerts", params={"colour": "red"}), 400, "unknown_parameter")
    assert body["detail"].startswith("Tham số không được hỗ trợ") and "colour" in body["detail"]
    body = _error(c.get("/alerts", params={"bbox": "1,2,3"}), 422, "invalid_input")
    assert body["detail"].startswith("Dữ liệu không hợp lệ") and "bbox" in body["detail"]
    body = _error(c.get("/alerts", params={"limit": "many"}), 422, "validation_error")
    assert isinstance(body["detail"], list) and body["detail"][0]["loc"][-1] == "limit"

    # login_required (the body-limits middleware and a route), bad_credentials (password, token)
    body = _error(c.post("/assignments/run"), 401, "login_required")
    assert body["detail"] == vi_texts["login_required"]
    assert "log in first" in _error(c.post("/assignments/run", headers=en), 401, "login_required")["detail"]
    _error(c.get("/me"), 401, "login_required")
    _error(c.post("/auth/token", data={"username": "an", "password": "wrong-one"}), 401, "bad_credentials")
    _error(c.get("/me", headers={"Authorization": "Bearer forged"}), 401, "bad_credentials")

    # forbidden_role, forbidden_unit: Vietnamese names the alert and its unit
    assert c.post("/assignments/run", headers=admin).json()["assigned"] == 3
    _error(c.post("/assignments/run", headers=ranger), 403, "forbidden_role")
    _error(c.post(f"/alerts/{BIG}/transitions", headers=viewer, json={"to": "in_field", "version": 2}),
           403, "forbidden_role")
    body = _error(c.post(f"/alerts/{BIG}/transitions", headers=other, json={"to": "in_field", "version": 2}),
                  403, "forbidden_unit")
    assert body["detail"] == f"Mục {BIG} thuộc đơn vị 675, không nằm trong các đơn vị bạn phụ trách."
    body = _error(c.post(f"/alerts/{BIG}/transitions", headers={**other, **en},
                         json={"to": "in_field", "version": 2}), 403, "forbidden_unit")
    assert "not among your units (673)" in body["detail"]

    # invalid_transition (statuses named in Vietnamese), stale_version, then not_confirmed
    body = _error(c.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "confirmed", "version": 2,
                                                                             "cause": "illegal_logging"}),
                  409, "invalid_transition")
    assert body["detail"] == f"Cảnh báo {BIG} đang ở trạng thái «đã giao», không thể chuyển sang «đã xác nhận»."
    body = _error(c.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "in_field", "version": 1}),
                  409, "stale_version")
    assert body["detail"].startswith(f"Mục {BIG} đã được người khác thay đổi")
    case = {"number": "24/VP-1", "opened": "2024-06-15", "violation_type": "illegal_logging", "alert_ids": [BIG]}
    _error(c.post("/cases", headers=ranger, json=case), 409, "not_confirmed")
    assert c.post(f"/alerts/{BIG}/transitions", headers=ranger, json={"to": "in_field", "version": 2}).is_success
    assert c.post(f"/alerts/{BIG}/transitions", headers=ranger,
                  json={"to": "confirmed", "version": 3, "cause": "illegal_logging"}).is_success
    assert c.post("/cases", headers=ranger, json=case).status_code == 201
    # already_in_case, duplicate (a case number, a user name)
    _error(c.post("/cases", headers=ranger, json={**case, "number": "24/VP-2"}), 409, "already_in_case")
    user = {"username": "an", "password": "another-password-1", "role": "viewer", "units": []}
    _error(c.post("/users", headers=admin, json=user), 409, "duplicate")

    # too_large: the middleware's 413 (a body over the photo limit)
    body = _error(c.post(f"/alerts/{BIG}/photos", headers=ranger,
                         files={"file": ("p.jpg", b"\xff\xd8" + b"\0" * 700_000, "image/jpeg")}), 413, "too_large")
    assert body["detail"].startswith("Tệp gửi lên quá lớn") and "MB" in body["detail"]


def test_the_error_schema_documents_the_codes(app_client):
    schema = app_client.get("/openapi.json").json()["components"]["schemas"]["Error"]
    assert "code" in schema["required"]
    assert set(schema["properties"]["code"]["enum"]) == set(ERROR_CODES)
