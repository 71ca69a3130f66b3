"""Permission sync: record who may see or change a client, deal or policy, and hand it to Auth over BullMQ."""
