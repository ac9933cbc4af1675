"""Surveillance statistics computed by the database: counts, rates, positivity, turnaround."""
