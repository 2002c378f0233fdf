"""What takes Kafka out to the world: the audit sink (PostgreSQL), dashboards, metrics, reports."""
