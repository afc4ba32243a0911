"""The service's side of FHIR: the outbound client (``client``), the URL checks it and the
settings rely on (``urls``), and the checking of the resources a call brings (``validation``,
``shapes``, ``received``, with ``digests`` remembering what passed)."""
