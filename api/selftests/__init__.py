"""A self-test from the scan to the released result: its records and its lifecycle."""
