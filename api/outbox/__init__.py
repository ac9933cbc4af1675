"""outbox domain: messages written in the release's transaction, delivered by a worker."""
