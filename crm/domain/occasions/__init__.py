"""Occasions that reach people with nobody asking: a payment falling due or overdue, a policy to renew (task
reminders live with the tasks). crm-worker fires each once, and hands a notification to ``NotificationIntake``."""
