"""Random and human reference scores of the 57 Atari games, and the human-normalized score.

The human-normalized score of a raw game score is (score - random) / (human - random): 0 is a
uniformly random player, 1 a professional human game tester (Mnih et al. 2015). The references
are those of the Atari-57 literature (Mnih et al. 2015; van Hasselt et al. 2016 for the games
Nature DQN did not play; the table DeepMind's DQN Zoo and rliable use): each is the mean
undiscounted score of whole games that start with up to 30 no-ops and last at most 108,000
frames, the protocol dqnlab's evaluation follows.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class ReferenceScores(NamedTuple):
    random: float  # mean score of a player choosing actions uniformly at random
    human: float  # mean score of a professional human game tester


# Game (as in its ALE id, "ALE/<Game>-v5") -> (random, human).
ATARI_REFERENCE_SCORES: dict[str, ReferenceScores] = {
    game: ReferenceScores(random, human)
    for game, (random, human) in {
        "Alien": (227.8, 7127.7),
        "Amidar": (5.8, 1719.5),
        "Assault": (222.4, 742.0),
        "Asterix": (210.0, 8503.3),
        "Asteroids": (719.1, 47388.7),
        "Atlantis": (12850.0, 29028.1),
        "BankHeist": (14.2, 753.1),
        "BattleZone": (2360.0, 37187.5),
        "BeamRider": (363.9, 16926.5),
        "Berzerk": (123.7, 2630.4),
        "Bowling": (23.1, 160.7),
        "Boxing": (0.1, 12.1),
        "Breakout": (1.7, 30.5),
        "Centipede": (2090.9, 12017.0),
        "ChopperCommand": (811.0, 7387.8),
        "CrazyClimber": (10780.5, 35829.4),
        "Defender": (2874.5, 18688.9),
        "DemonAttack": (152.1, 1971.0),
        "DoubleDunk": (-18.6, -16.4),
        "Enduro": (0.0, 860.5),
        "FishingDerby": (-91.7, -38.7),
        "Freeway": (0.0, 29.6),
        "Frostbite": (65.2, 4334.7),
        "Gopher": (257.6, 2412.5),
        "Gravitar": (173.0, 3351.4),
        "Hero": (1027.0, 30826.4),
        "IceHockey": (-11.2, 0.9),
        "Jamesbond": (29.0, 302.8),
        "Kangaroo": (52.0, 3035.0),
        "Krull": (1598.0, 2665.5),
        "KungFuMaster": (258.5, 22736.3),
        "MontezumaRevenge": (0.0, 4753.3),
        "MsPacman": (307.3, 6951.6),
        "NameThisGame": (2292.3, 8049.0),
        "Phoenix": (761.4, 7242.6),
        "Pitfall": (-229.4, 6463.7),
        "Pong": (-20.7, 14.6),
        "PrivateEye": (24.9, 69571.3),
        "Qbert": (163.9, 13455.0),
        "Riverraid": (1338.5, 17118.0),
        "RoadRunner": (11.5, 7845.0),
        "Robotank": (2.2, 11.9),
        "Seaquest": (68.4, 42054.7),
        "Skiing": (-17098.1, -4336.9),
        "Solaris": (1236.3, 12326.7),
        "SpaceInvaders": (148.0, 1668.7),
        "StarGunner": (664.0, 10250.0),
        "Surround": (-10.0, 6.5),
        "Tennis": (-23.8, -8.3),
        "TimePilot": (3568.0, 5229.2),
        "Tutankham": (11.4, 167.6),
        "UpNDown": (533.4, 11693.2),
        "Venture": (0.0, 1187.5),
        "VideoPinball": (16256.9, 17667.9),  # random beats human under some other protocols
        "WizardOfWor": (563.5, 4756.5),
        "YarsRevenge": (3092.9, 54576.9),
        "Zaxxon": (32.5, 9173.3),
    }.items()
}


def atari_game(env_id: str) -> str | None:
    """The game of an ALE id ("ALE/SpaceInvaders-v5" -> "SpaceInvaders"); None for other ids."""
    if not env_id.startswith("ALE/"):
        return None
    return env_id[len("ALE/") :].split("-")[0]


def reference_scores(env_id: str) -> ReferenceScores | None:
    """The random and human scores of `env_id`'s game, if it is one of the 57."""
    game = atari_game(env_id)
    return None if game is None else ATARI_REFERENCE_SCORES.get(game)


def human_normalized_score(env_id: str, score: float) -> float:
    """(score - random) / (human - random) for `env_id`'s game; NaN for a game without references."""
    references = reference_scores(env_id)
    if references is None:
        return math.nan
    return (score - references.random) / (references.human - references.random)


def atari_summary(env_id: str, best_score: float | None) -> dict[str, float | None]:
    """What a run summary adds for an ALE game: the raw best evaluation score (whole games,
    unclipped) and its human-normalized score (None without references); nothing for other envs."""
    if atari_game(env_id) is None:
        return {}
    normalized = None if best_score is None else human_normalized_score(env_id, best_score)
    return {
        "best_eval_score": best_score,
        "human_normalized_score": None if normalized is None or math.isnan(normalized) else round(normalized, 4),
    }
