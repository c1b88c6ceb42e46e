"""A small synthetic ratings set in MovieLens 100k's RecBole atomic-file format, generated at test time.

Two tastes: odd user ids like the "Action" items (1-20), even ones the "Romance" items (21-40). Each
user rates 9 liked items (4-5 stars) and 2 others (1-2 stars), at increasing timestamps. Gender
and age are assigned by id, independent of taste, so a recommender that learns taste serves
both genders alike. Deterministic for a given seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

AGES = (19, 23, 31, 44, 62)


def write_movielens(folder: Path, *, users: int = 80, items: int = 40, seed: int = 0,
                    prefix: str = "ml-100k") -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    half = items // 2
    action, romance = list(range(1, half + 1)), list(range(half + 1, items + 1))
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    stamp = 880000000
    for user in range(1, users + 1):
        liked, other = (action, romance) if user % 2 else (romance, action)
        weights = np.linspace(2.0, 1.0, len(liked))  # some liked items more popular than others
        chosen = rng.choice(liked, size=9, replace=False, p=weights / weights.sum()).tolist()
        chosen += rng.choice(other, size=2, replace=False).tolist()
        for k, item in enumerate(rng.permutation(chosen).tolist()):
            rating = int(rng.integers(4, 6)) if item in liked else int(rng.integers(1, 3))
            lines.append(f"{user}\t{item}\t{rating}\t{stamp + 1000 * user + k}")
    (folder / f"{prefix}.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")
    user_lines = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
    for user in range(1, users + 1):
        gender = "F" if (user // 2) % 2 else "M"
        user_lines.append(f"{user}\t{AGES[user % len(AGES)]}\t{gender}\tother\t0{user:04d}")
    (folder / f"{prefix}.user").write_text("\n".join(user_lines) + "\n", encoding="utf-8")
    item_lines = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for item in range(1, items + 1):
        genre = "Action Thriller" if item <= half else "Romance"
        item_lines.append(f"{item}\tFilm {item}\t{1990 + item % 10}\t{genre}")
    (folder / f"{prefix}.item").write_text("\n".join(item_lines) + "\n", encoding="utf-8")
    return folder


CONFIG = """kind: recommender
system:
  name: movie-recs
  intended_purpose: Recommend films to the users of a movie site from their past ratings
  annex_iii: null
data:
  folder: ratings
  prefix: ml-100k
  sensitive_features: [gender, {column: age, bins: [0, 25, 35, 50, 120]}]
model: {estimator: implicit_svd, factors: 4, top_n: 5}
evaluation: {hit_rate_min: 0.2, beat_popularity: true}
policy:
  approvals: [model_owner, risk_officer]
  fairness: {min_group_size: 10}
"""


def write_config(folder: Path, **kwargs: object) -> Path:
    write_movielens(folder / "ratings", **kwargs)  # type: ignore[arg-type]
    path = folder / "govflow.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path
