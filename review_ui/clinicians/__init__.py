"""The clinicians' pages: the review queue, one item, their own statistics."""
