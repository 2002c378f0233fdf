"""The audit sink: every dawn topic into PostgreSQL for five years, and the questions ops and
compliance ask of it."""
