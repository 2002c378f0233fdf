"""The morning scheduler: eligible advisors x approved packs -> delivery intents keyed by sender number."""
