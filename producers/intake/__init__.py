"""Intake: compliance-approved packs and the advisor registry (CSV import, demo data) into Kafka and
PostgreSQL."""
