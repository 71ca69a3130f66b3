"""Notifications: templates, notifications queued for delivery to people, their attempts, inbound events."""
