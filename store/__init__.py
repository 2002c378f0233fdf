"""PostgreSQL state whose loss would send twice or forget consent: advisors, consent, send ledger.

Kafka carries events; these tables are the record the sender and scheduler decide on, because the
embedded broker has no transactions and Faust tables are at-least-once. Imports ``schemas`` only.
"""
