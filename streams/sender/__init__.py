"""The sender: delivery intents in, Cloud API sends out, each attempt claimed in PostgreSQL before its
HTTP call."""
