"""The gameday suite seen from outside a run: what it holds and what a run would do."""
