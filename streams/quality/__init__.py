"""Number health: the owner of wa.numbers.health (poll, account webhooks, send results)."""
