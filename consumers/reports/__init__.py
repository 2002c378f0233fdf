"""``dawn report``: a morning's analytics from the audit trail (SLA, reads, failures, quality, cost)."""
