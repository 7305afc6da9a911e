"""The config's docs as data: the README's table is written from them and must not drift."""

from pathlib import Path

from dqnlab.config import Config
from dqnlab.config_docs import (
    README_END,
    README_START,
    config_keys,
    format_value,
    markdown_table,
    readme_table,
    with_readme_table,
)
from dqnlab.presets import preset_config

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_is_the_one_the_docs_give():
    """Fails when a field, default or doc changed without `PYTHONPATH=src python scripts/readme_config_table.py`."""
    assert readme_table(README.read_text()) == markdown_table()


def test_the_drift_check_sees_a_stale_row():
    stale = f"intro\n{README_START}\n{markdown_table().replace('discount factor', 'discount')}\n{README_END}\nrest\n"
    assert readme_table(stale) != markdown_table()
    assert readme_table(with_readme_table(stale)) == markdown_table()
    assert with_readme_table(stale).startswith("intro\n") and with_readme_table(stale).endswith(f"{README_END}\nrest\n")


def test_every_key_appears_once_with_its_default():
    keys = config_keys(Config())
    assert len({k.key for k in keys}) == len(keys) == markdown_table().count("\n| `")
    assert "| `learning.gamma` | `0.99` | discount factor per env step, in (0, 1] |" in markdown_table()
    assert (
        "| `replay.alpha` | `0.6` | prioritized: priority exponent, P(i) ~ (\\|delta_i\\| + eps)^alpha"
        in markdown_table()
    )


def test_keys_mark_what_a_preset_changed():
    changed = {k.key for k in config_keys(preset_config("cartpole-rainbow")) if k.changed}
    assert {"preset", "steps", "network.noisy", "replay.n_step", "learning.target_update_interval"} <= changed
    assert "learning.gamma" not in changed and "exploration.schedule" not in changed


def test_values_are_written_as_set_takes_them():
    assert [format_value(v) for v in (None, True, (64, 64), 1e-3, 2.5e-4, "mlp", 100_000)] == [
        "none",
        "true",
        "[64, 64]",
        "0.001",
        "0.00025",
        "mlp",
        "100000",
    ]
