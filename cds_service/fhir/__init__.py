"""The service's side of FHIR, knowing nothing of hooks: the outbound client (``client``, one
request at a time in ``transport``), the URL checks it and the settings rely on (``urls``), and
the checking of the resources a call brings (``received``, ``validation``, ``shapes``,
``repair``, with ``digests`` remembering what passed)."""
