"""Rewrites the configuration table in README.md from the config fields' one-line docs.

Run after adding a config field or changing a default or a doc:
    PYTHONPATH=src python scripts/readme_config_table.py
tests/unit/test_config_docs.py fails while README.md and src/dqnlab/config.py disagree.
"""

from pathlib import Path

from dqnlab.config_docs import with_readme_table

README = Path(__file__).resolve().parent.parent / "README.md"

if __name__ == "__main__":
    README.write_text(with_readme_table(README.read_text()))
    print(f"wrote the configuration table in {README}")
