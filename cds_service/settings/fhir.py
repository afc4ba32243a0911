"""The FHIR group of the settings: the FHIR server fallback that fetches missing prefetch, its
allowed servers, timeouts, bounds and cache."""

from __future__ import annotations

from dataclasses import dataclass

from .parsers import fhir_base_list, integer, number
from .spec import setting


@dataclass(frozen=True)
class FhirSettings:
    """FHIR server fallback: off while no server is allowed."""

    fhir_allowed_servers: tuple[str, ...] = setting(
        "CDS_FHIR_ALLOWED_SERVERS", (), fhir_base_list,
        "FHIR base URLs the service may fetch missing prefetch from (comma-separated)")
    fhir_connect_timeout: float = setting("CDS_FHIR_CONNECT_TIMEOUT", 2.0, number(0.1, 60),
                                          "Seconds to connect to the FHIR server")
    fhir_read_timeout: float = setting("CDS_FHIR_READ_TIMEOUT", 5.0, number(0.1, 120),
                                       "Seconds to wait for each FHIR response read")
    fhir_deadline: float = setting("CDS_FHIR_DEADLINE", 8.0, number(0.1, 300),
                                   "Seconds all of one hook call's FHIR fetches may take")
    fhir_max_pages: int = setting("CDS_FHIR_MAX_PAGES", 100, integer(1, 1000),
                                  "Search result pages followed per query")
    fhir_max_resources: int = setting("CDS_FHIR_MAX_RESOURCES", 2000, integer(1, 100_000),
                                      "Resources read per FHIR search, over all its pages")
    fhir_max_response_bytes: int = setting("CDS_FHIR_MAX_RESPONSE_BYTES", 5 * 1024 * 1024,
                                           integer(1024), "Largest FHIR response read")
    fhir_cache_ttl: float = setting("CDS_FHIR_CACHE_TTL", 60.0, number(0),
                                    "Seconds a fetched FHIR result is cached (0: no cache)")
    fhir_cache_size: int = setting("CDS_FHIR_CACHE_SIZE", 256, integer(0),
                                   "FHIR results cached per worker")
