"""Who may read what: the ops bearer token and per-advisor signed tokens, shared by every HTTP
surface (the webhook gateway's metrics, the ops dashboard, the advisor feed) so each checks a
secret the same way, in constant time."""
