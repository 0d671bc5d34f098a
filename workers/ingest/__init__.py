"""The exactly-once core, free of NATS: decoding, applying a batch, the preparing processes."""
