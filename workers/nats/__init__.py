"""Everything that speaks NATS: subscribers and the pull loop, the broker, streams, dead letters,
the producer and the local nats-server."""
