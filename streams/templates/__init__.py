"""The templates agent: template states from webhooks and a poller, into wa.templates."""
