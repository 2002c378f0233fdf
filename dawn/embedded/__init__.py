"""The embedded runtime: a Kafka-protocol broker and a PostgreSQL started from pip wheels."""
