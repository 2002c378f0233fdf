"""The ops dashboard and the advisor feed: Kafka topics in, a live page and WebSockets out."""
