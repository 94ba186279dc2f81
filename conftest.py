"""Repository-level pytest configuration. The gameday plugin itself is `harness.suite.plugin`,
registered through the `pytest11` entry point, so it works in any project that installs
the harness."""
