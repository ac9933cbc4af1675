"""notifications domain: telling patients a result is ready, by SMS or e-mail, via the outbox."""
