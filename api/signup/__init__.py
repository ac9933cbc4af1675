"""Public sign-ups that tell nobody who is registered, confirmed out of band."""
