"""The web pages (server-rendered Jinja2 + htmx), served by the API app: see ``review_ui.app``."""
