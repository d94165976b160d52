"""The bottom layer: settings, errors, the clock and the database connection.

Everything else may import from here; nothing here imports the project's
other packages.
"""
