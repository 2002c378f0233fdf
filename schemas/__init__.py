"""Avro contracts, the topic catalogue and the codec: the only thing every part of dawn shares."""
