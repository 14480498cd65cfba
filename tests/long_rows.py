"""HUMANUAL rows at real size, written from the dataset's published format (the repository holds no real row).

What real rows look like, and what these copy:

- the persona is a dict of ~3,700 characters: ``demographics`` a dict whose unknown values are "NA", and four
  list fields of about ten quoted items each;
- ``prompt`` is a JSON-encoded list of messages whose ``role`` is the author's name: the post, then the chain
  of comments above the user's reply, up to ~37,000 characters;
- the reply (``completion``) runs up to ~800 words.

The text comes from the 79 real r/AmItheAsshole posts shipped with the tests, repeated and varied so that
each row is as long as the longest real ones.
"""

from __future__ import annotations

import json
import random

_INTERESTS = [
    '"restoring old road bikes and riding them on long weekend routes"',
    '"true crime podcasts, especially the ones about cold cases from the nineties"',
    '"baking sourdough and arguing about hydration ratios with strangers online"',
    '"board game nights with a small group of friends from university"',
    '"reading long threads about relationship advice and family conflicts"',
    '"gardening on a small balcony, tomatoes and chilli peppers mostly"',
    '"budget travel across Europe by train, hostels over hotels"',
    '"following local politics and city council meetings"',
    '"learning Japanese with flashcards on the commute"',
    '"watching football and playing five-a-side on Thursdays"',
]
_VALUES = [
    '"honesty matters more than keeping the peace in a family"',
    '"people are responsible for their own choices, not for managing others\' feelings"',
    '"fairness in shared chores and shared money is non-negotiable"',
    '"boundaries are healthy and saying no is not rude"',
    '"family should support each other but not at any cost"',
    '"weddings and big events do not give anyone the right to make demands"',
    '"children should be protected from adult drama"',
    '"a promise made should be kept even when it is inconvenient"',
    '"privacy is a basic right, also within a marriage"',
    '"being polite to service workers says a lot about a person"',
]
_COMMUNICATION = [
    '"opens with a verdict (NTA, YTA, ESH) before explaining"',
    '"writes in short, blunt sentences and rarely hedges"',
    '"quotes the original post back to make a point"',
    '"uses rhetorical questions to show where the poster went wrong"',
    '"sometimes adds a personal story from their own family"',
    '"avoids swearing but can be sarcastic"',
    '"ends with practical advice, often a numbered list"',
    '"uses lowercase and little punctuation when annoyed"',
    '"calls out other commenters by name when disagreeing"',
    '"keeps a calm tone even on heated threads"',
]
_STATISTICS = [
    '"typical reply length: 80-200 words"',
    '"comments mostly on r/AmItheAsshole and r/relationship_advice"',
    '"judges NTA in about 60% of replies"',
    '"replies within the first hour of a post in most cases"',
    '"average comment score: 14"',
    '"about one in five replies is a direct answer to another commenter"',
    '"rarely replies to posts about pets"',
    '"more active on weekends than on weekdays"',
    '"has written around 1,200 comments in three years"',
    "\"uses the word 'boundaries' in about a quarter of replies\"",
]


def long_persona(rng: random.Random) -> dict:
    """A persona dict of about 3,700 characters, in HUMANUAL's shape."""

    def some(items: list[str]) -> list[str]:
        picked = rng.sample(items, k=len(items))
        return [f"{p} (noted {rng.randint(2, 40)} times across the user's history)" for p in picked]

    return {
        "demographics": {
            "age group": rng.choice(["18-24", "25-34", "35-44", "NA"]),
            "gender": rng.choice(["female", "male", "NA"]),
            "location": rng.choice(["United Kingdom", "NA", "Ohio, USA"]),
            "occupation": rng.choice(["nurse", "software developer", "NA", "teacher"]),
            "nationality": "NA",
            "other": "NA",
        },
        "interests": some(_INTERESTS),
        "values": some(_VALUES),
        "communication": some(_COMMUNICATION),
        "statistics": some(_STATISTICS),
    }


def long_thread(posts: list[dict], rng: random.Random, chars: int) -> list[dict]:
    """A post and a chain of comments, ``role`` the author's name, about ``chars`` characters in all."""
    post = rng.choice(posts)
    messages = [{"role": post.get("poster_name") or "throwaway_op", "content": post["post"]}]
    authors = ["throwaway_op", "kettle_black", "ResidentCynic", "mum_of_three", "Lurker2009"]
    size = len(messages[0]["content"])
    while size < chars:
        other = rng.choice(posts)
        words = other["post"].split()
        start = rng.randrange(max(1, len(words) - 120))
        text = "Honestly this reminds me of my own family. " + " ".join(words[start : start + 220])
        messages.append({"role": rng.choice(authors[1:]), "content": text})
        size += len(text)
    return messages


def long_rows(posts: dict[str, dict[str, str]], n: int = 6, seed: int = 0) -> list[dict]:
    """``n`` rows at real size: ~3,700-character personas, threads of 20,000 to 37,000 characters, replies of
    up to ~800 words. Every second row's user also appears in another row (a seen user)."""
    rng = random.Random(seed)
    pool = list(posts.values())
    rows = []
    for i in range(n):
        thread = long_thread(pool, rng, rng.randint(20_000, 37_000))
        words = " ".join(rng.choice(pool)["post"] for _ in range(4)).split()
        reply = "NTA. " + " ".join(words[: rng.randint(300, 800)])
        rows.append(
            {
                "prompt": json.dumps(thread),
                "completion": reply,
                "user_id": f"long_user_{i // 2}",
                "post_id": f"long_post_{i}",
                "timestamp": 1_650_000_000 + i,
                "metadata": json.dumps({"score": rng.randint(1, 500)}),
                "persona": json.dumps(long_persona(rng)),
            }
        )
    return rows
