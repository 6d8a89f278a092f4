"""POST /api/v1/imports/customers over real HTTP: admin only; counts and rejected rows as JSON;
problem+json 422 when the upload is unusable (nothing loaded then)."""

from __future__ import annotations

import io

import httpx

from tests.loaders.foreign_export import archive_frame


def _csv(frame, encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode(encoding)


def _upload(api_url, role: str | None, files: dict) -> httpx.Response:
    headers = api_url.headers(role) if role else {}
    return httpx.post(api_url + "/api/v1/imports/customers", files=files, headers=headers, timeout=60)


def test_an_admin_uploads_an_archive_and_gets_counts_and_rejected_rows(api_url):
    frame = archive_frame(30)
    frame["户号"] = ["8" + a[1:] for a in frame["户号"]]
    frame.loc[2, "联系电话"] = "12-34"
    r = _upload(api_url, "admin", {"file": ("客户档案.csv", _csv(frame, "gbk"), "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"] == {"customers": 29} and body["rejected_rows"] == 1
    assert body["rejects"] == [{
        "source_file": "客户档案.csv", "layer": "", "row": 4, "id": frame.loc[2, "户号"], "field": "联系电话 (phone)",
        "value": "12-34", "reason": body["rejects"][0]["reason"],
    }]
    assert "not a phone number: '12-34'" in body["rejects"][0]["reason"]
    assert any("gb18030" in n for n in body["notes"])
    version = body["data_version"]
    again = _upload(api_url, "admin", {"file": ("客户档案.csv", _csv(frame, "gbk"), "text/csv")}).json()
    assert again["unchanged"] is True and again["data_version"] == version


def test_a_mapping_part_overrides_the_headers(api_url):
    frame = archive_frame(3).rename(columns={"户号": "客户编码"})
    frame["客户编码"] = ["7" + a[1:] for a in frame["客户编码"]]
    mapping = b'[customers]\nsource = "/etc/passwd"\n[customers.columns]\naccount_no = "\xe5\xae\xa2\xe6\x88\xb7\xe7\xbc\x96\xe7\xa0\x81"\n'
    r = _upload(api_url, "admin", {"file": ("a.csv", _csv(frame), "text/csv"), "mapping": ("m.toml", mapping, "text/plain")})
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"customers": 3}  # and the mapping's source was ignored


def test_an_unusable_upload_is_a_problem_422(api_url):
    r = _upload(api_url, "admin", {"file": ("a.pdf", b"%PDF", "application/pdf")})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "file"
    r = _upload(api_url, "admin", {"file": ("a.csv", "姓名,电话\n张三,13800138000\n".encode(), "text/csv")})
    assert r.status_code == 422 and "does not map account_no" in r.json()["detail"]
    r = _upload(api_url, "admin", {"file": ("a.csv", b"x", "text/csv"), "mapping": ("m.toml", b"[customers", "text/plain")})
    assert r.status_code == 422 and "not valid TOML" in r.json()["detail"]


def test_only_admins_may_upload(api_url):
    files = {"file": ("a.csv", _csv(archive_frame(2)), "text/csv")}
    assert _upload(api_url, "planner", files).status_code == 403
    assert _upload(api_url, "dispatcher", files).status_code == 403
    assert _upload(api_url, None, files).status_code == 401


def test_an_extra_column_rejects_its_row_and_no_server_path_is_shown(api_url):
    frame = archive_frame(3)
    frame["户号"] = ["6" + a[1:] for a in frame["户号"]]
    lines = _csv(frame).decode("utf-8-sig").splitlines()
    lines[1] += ",extra"
    r = _upload(api_url, "admin", {"file": ("客户.csv", "\n".join(lines).encode(), "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"] == {"customers": 2} and body["rejected_rows"] == 1
    assert body["rejects"][0]["row"] == 2 and body["rejects"][0]["source_file"] == "客户.csv"
    # an unusable upload names the uploaded file, never the server's temporary path
    r = _upload(api_url, "admin", {"file": ("客户.csv", _csv(frame), "text/csv"),
                                   "mapping": ("m.toml", '[customers.columns]\naccount_no = "客户编号"\n'.encode(), "text/plain")})
    assert r.status_code == 422
    assert "gridatlas-upload" not in r.text and "/tmp" not in r.text and "客户.csv" in r.json()["detail"]
