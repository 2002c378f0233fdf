"""What brings events into Kafka from outside: the morning scheduler, compliance pack intake and the
webhook gateway.

The scheduler's planning modules (window, capacity, sender_assignment, variants, send_times, plan)
do no I/O so they can be property-tested; packs, media, kafka_io and scheduler do the I/O around them.
"""
