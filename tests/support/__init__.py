"""What the tests share, one job per module: the example requests, the run's environment, the
log scan, the CDS Hooks contract check on every response, the app, live servers, JWKS servers,
the built wheel, Chromium and the ``slow`` marker. ``tests/conftest.py`` registers the modules
that hold fixtures or hooks as plugins; tests import the helpers from here."""
