"""An in-memory ERP and AP platform for the engine's own tests, added by the same recipe as a real system.

Each side is a folder with its declaration (system.py) and its connector (connector.py); tests/conftest.py
registers them for the tests that ask for the `fakes` fixture, and nothing else knows them. The engine runs
every step it would run for a real pair, without HTTP: the simulators keep proving the real connectors."""
