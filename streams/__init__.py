"""The Faust app and its agents: sender, delivery state, SLA, quality, consent, templates."""
