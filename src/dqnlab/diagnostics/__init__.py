"""Run logging and reporting."""
