"""What operations needs from every service, in one place: the ops bearer token and per-advisor
signed tokens (every HTTP surface checks a secret the same way, in constant time), and the
Prometheus metrics each service exports (every metric name in one list)."""
