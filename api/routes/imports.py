"""Data loads over HTTP: a customer archive uploaded by an administrator.

The archive (CSV in UTF-8/GBK, or XLSX) and an optional mapping TOML arrive as multipart
parts; the load is the same as ``gridatlas import customers`` and answers with the counts
and every rejected row (422 problem+json when the input is unusable; nothing loaded then).
A mapping's ``source`` is ignored here: an upload can never make the server read its files.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile

from api.audit import audit
from api.auth import Principal, allow
from api.deps import SettingsDep
from api.outputs import CustomerImportOut
from gis.errors import InvalidInput
from loaders.customer_archive import import_customers

router = APIRouter(prefix="/api/v1", tags=["imports"])

_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")


@router.post(
    "/imports/customers",
    summary="Load a customer archive (CSV/XLSX); returns counts and the rejected rows",
    response_model=None, responses={200: {"model": CustomerImportOut}},
)
def import_customers_upload(
    request: Request,
    settings: SettingsDep,
    principal: Annotated[Principal, allow()],
    file: Annotated[UploadFile, File(description="the archive: .csv (UTF-8 or GBK) or .xlsx")],
    mapping: Annotated[UploadFile | None, File(description="optional TOML with a [customers] table")] = None,
) -> dict[str, Any]:
    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidInput(f"the archive must be one of {', '.join(_SUFFIXES)}, not {name!r}", field="file", value=name)
    mapping_text = None
    if mapping is not None:
        raw = mapping.file.read(1_000_001)
        if len(raw) > 1_000_000:
            raise InvalidInput("the mapping part is larger than 1 MB", field="mapping")
        try:
            mapping_text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"the mapping must be UTF-8 text: {exc}", field="mapping") from exc
    with tempfile.TemporaryDirectory(prefix="gridatlas-upload-") as tmp:
        path = Path(tmp) / f"archive{suffix}"
        with open(path, "wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        if path.stat().st_size > settings.max_import_bytes:  # the body limit normally stops it earlier
            raise InvalidInput(f"the archive is larger than {settings.max_import_bytes >> 20} MiB; "
                               "use `gridatlas import customers`", field="file", value=name)
        try:
            result = import_customers(
                request.app.state.engine, path, service_area=settings.service_area, mapping_text=mapping_text,
                mapping_name=Path(mapping.filename or "mapping.toml").name if mapping is not None else "mapping",
                display_name=name,
            )
        except InvalidInput as exc:  # say the uploaded file's name, never the server's temporary path
            raise _named(exc, str(path), name) from None
    body = result.to_dict()
    audit(request, principal, "import", "customers", name,
          {k: body[k] for k in ("data_version", "unchanged", "counts", "rejected_rows")})  # not the rejects: they hold PII
    return body


def _named(exc: InvalidInput, server_path: str, name: str) -> InvalidInput:
    """``exc`` with the server's temporary path replaced by the uploaded file's name."""
    def scrub(value: object) -> object:
        return value.replace(server_path, name) if isinstance(value, str) else value

    return type(exc)(scrub(exc.message), field=scrub(exc.field), value=scrub(exc.value), row=exc.row)
