"""Band model versions in the database: files, metrics, aliases, promotion and rollback."""
