"""A plugin that is broken on purpose (see _plugin.py)."""
