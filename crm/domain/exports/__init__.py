"""Exports of clients, deals and payments as files, and the rules every cell of them follows."""
