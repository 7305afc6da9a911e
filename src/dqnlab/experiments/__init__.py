"""Experiments: many trainings (variants x seeds) planned, run and reported on. This package sits above
training and diagnostics: it runs `dqnlab train` processes and hands their run directories to the report."""
