"""The read side: the repositories' queries with their filters (`query` on the command line)
and the `reads` NATS service that answers them for the IDE."""
