"""A feature layer's source attributes as typed columns of its table, so GDAL, QGIS and pyogrio see each one
with its type (integer, real, text, date, timestamp) rather than one JSON text.

Columns come and go with the files imported: names are sanitised (lower-case ASCII, no clash with the table's
fixed columns, at most ``MAX_NAME`` characters), types read from the source frame, and a missing column is
added (``ALTER TABLE … ADD COLUMN``) in the import's own transaction. A name already there with another type
gets the type as suffix (``so_thua_text``), so no stored value is ever cast.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime

import numpy as np
import pandas as pd

from geo.store.sql import Dialect, Tx

MAX_NAME = 48
KINDS = ("bigint", "real", "text", "date", "timestamp")
# What may hold what: an integer fits a real column, anything fits text.
_FITS = {"bigint": ("bigint", "real", "text"), "real": ("real", "text"), "date": ("date", "text"),
         "timestamp": ("timestamp", "text"), "text": ("text",)}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def fixed_names(table) -> set[str]:
    """The names an attribute column may not take in ``table`` (a ``geo.store.schema.Table``): its declared
    columns and what GDAL and the backends reserve."""
    return {c.name for c in table.columns} | {"geom", "fid"}


def column_name(source: str, fixed: set[str]) -> str:
    """A safe SQL column name for a source attribute: 'Tên khu' → 'ten_khu', '2024' → 'a_2024'; a name of the
    table's fixed columns (``fixed``) gets the prefix ``src_``."""
    text = unicodedata.normalize("NFKD", str(source).replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", text)).strip("_") or "attr"
    if name[0].isdigit():
        name = f"a_{name}"
    if name in fixed or name in ("fid", "geom", "oid", "ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"):
        name = f"src_{name}"
    return name[:MAX_NAME]


def kind_of(values: pd.Series) -> str:
    """The store type of a column of source values (pandas dtype first, else the Python values)."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "real"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        present = values.dropna()
        return "date" if (present == present.dt.normalize()).all() else "timestamp"
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    if not present:
        return "text"
    if all(isinstance(v, bool | int | np.integer) for v in present):
        return "bigint"
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in present):
        return "real"
    if all(isinstance(v, date) and not isinstance(v, datetime) for v in present) or \
            all(isinstance(v, str) and _ISO_DATE.match(v) and _is_date(v) for v in present):
        return "date"
    if all(isinstance(v, datetime | pd.Timestamp) for v in present):
        return "timestamp"
    return "text"


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def value_of(value, kind: str):
    """A source value as the column of ``kind`` stores it: plain numbers, ISO dates and times, text."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "bigint":
        return int(value)
    if kind == "real":
        return float(value)
    if kind == "date":
        return value.date().isoformat() if isinstance(value, datetime) else str(value)[:10]
    if kind == "timestamp":
        return pd.Timestamp(value).isoformat()
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def plan(tx: Tx, dialect: Dialect, table: str, fixed: set[str], attrs: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Per source attribute, the column that stores it and its type: an existing column whose type holds the
    values, else a new one (added here, in ``tx``)."""
    dialect.lock_columns(tx, table)
    existing = dialect.table_columns(tx, table)
    out: dict[str, tuple[str, str]] = {}
    for source in attrs.columns:
        kind = kind_of(attrs[source])
        base = column_name(source, fixed)
        name = base
        if name in existing and existing[name] not in _FITS[kind]:
            name = f"{base[:MAX_NAME - len(kind) - 1]}_{kind}"
        if name in [c for c, _ in out.values()]:  # two source names sanitised alike: keep them apart
            name = f"{name[:MAX_NAME - 3]}_{len(out)}"
        if name not in existing:
            tx.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {dialect.attribute_type(kind)}')
            existing[name] = kind
        out[source] = (name, existing[name])
    return out


def rows(attrs: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> list[list]:
    """The frame's values in the columns' order and types."""
    kinds = [(source, kind) for source, (_, kind) in columns.items()]
    return [[value_of(record[source], kind) for source, kind in kinds] for record in attrs.to_dict("records")]


def from_json(texts: list[str | None]) -> pd.DataFrame:
    """Attributes kept as JSON text (one object per row) as a frame, one column per key, in first-seen order."""
    records = [json.loads(t) if t else {} for t in texts]
    keys = list(dict.fromkeys(k for r in records for k in r))
    return pd.DataFrame({k: pd.Series([r.get(k) for r in records], dtype=object) for k in keys})
