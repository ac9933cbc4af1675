"""Confirmed cases for the data scientists: labels, the versioned export, drift per lot."""
