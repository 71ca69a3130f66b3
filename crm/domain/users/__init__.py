"""Users as the CRM knows them (people live in Auth): how each wants to be reached."""
