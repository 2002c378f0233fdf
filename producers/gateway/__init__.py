"""The WhatsApp webhook gateway: signed webhook batches in, Avro events in Kafka out, 200 only once
Kafka has them."""
