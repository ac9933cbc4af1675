"""batches domain."""
