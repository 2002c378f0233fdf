"""Kafka plumbing every side of dawn shares: producing records and knowing Kafka has them."""
