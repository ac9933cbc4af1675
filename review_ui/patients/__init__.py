"""The patient's phone pages: register, scan the kit, share where, send a photo, see the result."""
