"""The data scientists' pages: models and aliases, shadow disagreements, drift per lot."""
