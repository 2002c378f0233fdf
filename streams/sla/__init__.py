"""The morning's SLA: snapshots to ops.sla and alerts to ops.alerts, from delivery states."""
