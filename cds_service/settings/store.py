"""The store group of the settings: where the feedback database is and the key that stands in
for patient ids there (cds_service/store)."""

from __future__ import annotations

from dataclasses import dataclass

from .parsers import database_url, hash_key, text
from .spec import setting


@dataclass(frozen=True)
class StoreSettings:
    """Feedback store: SQLite in CDS_DATA_DIR unless DATABASE_URL is set."""

    database_url: str | None = setting(
        "DATABASE_URL", None, database_url,
        "Feedback database: postgresql://user:password@host/db (default: SQLite in "
        "CDS_DATA_DIR)", secret=True)
    data_dir: str | None = setting(
        "CDS_DATA_DIR", None, text,
        "Folder of the SQLite feedback database and its patient hash key (default: "
        "$XDG_DATA_HOME/cds-service, else ~/.local/share/cds-service)")
    patient_hash_key: str | None = setting(
        "CDS_PATIENT_HASH_KEY", None, hash_key,
        "Key of the HMAC that stands in for patient ids in the feedback database (default with "
        "SQLite: generated into CDS_DATA_DIR/patient-hash.key; required with PostgreSQL)",
        secret=True)
