"""Sales analytics: the funnel, time in stage and cycle time, the forecast, won and lost by owner and insurer, and
income and overdue instalments — counted by the database over the deals the caller may see, divided here."""
