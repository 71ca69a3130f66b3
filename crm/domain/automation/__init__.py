"""Automation rules: when something happens to a deal (an event on the stream) or has lasted too long (a deal in a
stage, an overdue payment or task), do something (move the deal, make a task, notify, set a field) — once."""
