"""The embedded suite's questions, written for this project (none is copied from a benchmark).

- multiple choice (``mcq``), six subsets: ``arithmetic``, ``comparison``, ``units``, ``calendar``,
  ``opposites`` (templated over number words, units, days, months, antonym pairs) and ``science`` (simple
  facts written here); four options, the correct one at a drawn position;
- instruction following (``ifeval``): a request about a topic with one or two verifiable constraints
  (length, casing, a forbidden or repeated word, bullets, JSON, a closing phrase, quotation marks, a title,
  no commas), each constraint an IFEval rule (:mod:`speechalign.metrics.bench.ifeval`);
- agreement (``agreement``): open requests about a topic, answered once from speech and once from text.

Every generator takes a seeded :class:`random.Random`, so the suite is deterministic for a seed. Numbers
are spelled out, as they are spoken.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from speechalign.text import number_words


@dataclass(frozen=True)
class Question:
    subset: str
    text: str  # what is spoken (for mcq: the question with its options)
    choices: tuple[str, ...] = ()
    answer: str | None = None  # the correct option letter (mcq)
    rules: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


# ---- multiple choice ----

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
# (larger unit, smaller unit, how many smaller units in one larger)
UNITS = [("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24), ("weeks", "days", 7),
         ("years", "months", 12), ("metres", "centimetres", 100), ("kilograms", "grams", 1000),
         ("dozens", "things", 12)]  # fmt: skip
OPPOSITES = [("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("early", "late"),
             ("full", "empty"), ("open", "closed"), ("loud", "quiet"), ("wet", "dry"), ("high", "low"),
             ("young", "old"), ("hard", "soft"), ("thick", "thin"), ("rich", "poor"), ("strong", "weak"),
             ("clean", "dirty"), ("near", "far"), ("awake", "asleep"), ("heavy", "light"),
             ("brave", "afraid")]  # fmt: skip
# (question, correct answer, three wrong answers), written for this project
SCIENCE = [
    ("How many legs does a spider have?", "eight", ["six", "four", "ten"]),
    ("How many legs does an insect have?", "six", ["eight", "four", "two"]),
    ("Which planet is closest to the sun?", "Mercury", ["Mars", "Jupiter", "Neptune"]),
    ("Which planet is known as the red planet?", "Mars", ["Venus", "Saturn", "Mercury"]),
    ("What is frozen water called?", "ice", ["steam", "sand", "salt"]),
    ("What do bees make?", "honey", ["milk", "silk", "wax paper"]),
    ("Which organ pumps blood through the body?", "the heart", ["the lungs", "the liver", "the skin"]),
    ("Which organ do we use to breathe?", "the lungs", ["the heart", "the stomach", "the bones"]),
    ("What gas do plants take in from the air to make food?", "carbon dioxide", ["oxygen", "helium", "neon"]),
    ("What gas do people need to breathe in to live?", "oxygen", ["carbon dioxide", "helium", "smoke"]),
    ("What force pulls things down toward the ground?", "gravity", ["magnetism", "friction", "wind"]),
    ("Which of these animals is a mammal?", "a whale", ["a shark", "a trout", "a frog"]),
    ("Which of these animals is a bird?", "a penguin", ["a bat", "a dolphin", "a lizard"]),
    ("What does a caterpillar turn into?", "a butterfly", ["a spider", "a beetle", "a snail"]),
    ("What is the closest star to the earth?", "the sun", ["the moon", "the north star", "Mars"]),
    ("Which animals eat only plants?", "cows", ["wolves", "sharks", "eagles"]),
    ("Which sense do we use our ears for?", "hearing", ["smell", "taste", "sight"]),
    (
        "What happens to water when it is heated to boiling?",
        "it turns to steam",
        ["it freezes", "it turns to ice", "it turns to sand"],
    ),  # fmt: skip
    ("Which season comes after winter?", "spring", ["autumn", "summer", "winter again"]),
    ("What shape is the earth, roughly?", "a sphere", ["a cube", "a flat square", "a cone"]),
    ("Which of these is a liquid at room temperature?", "water", ["iron", "stone", "wood"]),
    ("What do plants need from the sun to grow?", "light", ["sound", "snow", "salt"]),
    ("Which metal is attracted to a magnet?", "iron", ["gold", "copper", "aluminium"]),
    ("What covers most of the surface of the earth?", "water", ["sand", "ice", "forest"]),
    (
        "How many days does the earth take to go around the sun, roughly?",
        "three hundred sixty-five",
        ["thirty", "one hundred", "one thousand"],
    ),  # fmt: skip
    ("What is the largest animal on earth?", "the blue whale", ["the elephant", "the giraffe", "the shark"]),
]


def _numbers_near(rng: random.Random, answer: int, spread: list[int]) -> list[int]:
    wrong: list[int] = []
    candidates = [answer + d for d in spread if answer + d >= 0 and d != 0]
    rng.shuffle(candidates)
    for value in candidates:
        if value not in wrong and value != answer:
            wrong.append(value)
        if len(wrong) == 3:
            break
    return wrong


def arithmetic(rng: random.Random) -> tuple[str, str, list[str]]:
    op = rng.choice(["plus", "minus", "times"])
    if op == "times":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        answer = a * b
    else:
        a = rng.randint(10, 60)
        b = rng.randint(2, 30) if op == "plus" else rng.randint(2, a - 2)  # differences stay positive
        answer = a + b if op == "plus" else a - b
    wrong = _numbers_near(rng, answer, [-10, -2, -1, 1, 2, 10])
    return (
        f"What is {number_words(a)} {op} {number_words(b)}?",
        number_words(answer),
        list(map(number_words, wrong)),
    )


def comparison(rng: random.Random) -> tuple[str, str, list[str]]:
    values = rng.sample(range(2, 100), 4)
    largest = rng.random() < 0.5
    answer = max(values) if largest else min(values)
    question = f"Which of these numbers is the {'largest' if largest else 'smallest'}?"
    return question, number_words(answer), [number_words(v) for v in values if v != answer]


def units(rng: random.Random) -> tuple[str, str, list[str]]:
    big, small, factor = rng.choice(UNITS)
    n = rng.randint(2, 5)
    answer = n * factor
    wrong = [n + factor, answer + factor, answer - factor] if n + factor != answer - factor else []
    wrong = list(dict.fromkeys(w for w in wrong if w > 0 and w != answer))
    while len(wrong) < 3:
        extra = answer + factor * (len(wrong) + 2)
        if extra not in wrong:
            wrong.append(extra)
    if big == "dozens":
        question = f"How many things are in {number_words(n)} dozen?"
    else:
        question = f"How many {small} are in {number_words(n)} {big}?"
    return question, number_words(answer), [number_words(w) for w in wrong[:3]]


def calendar(rng: random.Random) -> tuple[str, str, list[str]]:
    if rng.random() < 0.5:
        start, k = rng.randrange(7), rng.randint(1, 3)
        answer = DAYS[(start + k) % 7]
        question = f"What day comes {number_words(k)} {'day' if k == 1 else 'days'} after {DAYS[start]}?"
        pool = [d for d in DAYS if d != answer]
    else:
        start = rng.randrange(12)
        after = rng.random() < 0.5
        answer = MONTHS[(start + (1 if after else -1)) % 12]
        question = f"Which month comes right {'after' if after else 'before'} {MONTHS[start]}?"
        pool = [m for m in MONTHS if m != answer]
    return question, answer, rng.sample(pool, 3)


def opposites(rng: random.Random) -> tuple[str, str, list[str]]:
    pair = rng.choice(OPPOSITES)
    word, answer = pair if rng.random() < 0.5 else pair[::-1]
    others = [w for p in OPPOSITES if p != pair for w in p]
    return f"What is the opposite of {word}?", answer, rng.sample(others, 3)


def science(rng: random.Random) -> tuple[str, str, list[str]]:
    question, answer, wrong = rng.choice(SCIENCE)
    return question, answer, list(wrong)


MCQ_SUBSETS: dict[str, Callable[[random.Random], tuple[str, str, list[str]]]] = {
    "arithmetic": arithmetic,
    "comparison": comparison,
    "units": units,
    "calendar": calendar,
    "opposites": opposites,
    "science": science,
}


def spoken_options(question: str, choices: tuple[str, ...]) -> str:
    """The question and its options as one spoken text ("... Option A, twelve. Option B, ...")."""
    letters = "ABCDEFGHIJ"
    return " ".join([question] + [f"Option {letters[i]}, {c}." for i, c in enumerate(choices)])


def mcq_question(rng: random.Random, subset: str) -> Question:
    question, answer, wrong = MCQ_SUBSETS[subset](rng)
    choices = [answer] + wrong[:3]
    rng.shuffle(choices)
    letter = "ABCD"[choices.index(answer)]
    return Question(subset, spoken_options(question, tuple(choices)), tuple(choices), letter, (), {})


# ---- instruction following ----

# (topic, a word the topic invites, a second such word)
TOPICS = [("the ocean", "water", "waves"), ("rainy days", "rain", "umbrella"), ("winter", "snow", "cold"),
          ("gardening", "plants", "soil"), ("cooking pasta", "water", "sauce"),
          ("trains", "tracks", "station"), ("libraries", "books", "quiet"), ("morning walks", "sun", "air"),
          ("learning a language", "words", "practice"), ("playing chess", "pieces", "board"),
          ("cats", "fur", "sleep"), ("bicycles", "wheels", "ride"), ("camping", "tent", "fire"),
          ("baking bread", "flour", "oven"), ("music lessons", "notes", "practice"),
          ("the moon", "night", "sky"),
          ("city parks", "trees", "grass"), ("breakfast", "eggs", "coffee"), ("painting", "colours", "brush"),
          ("swimming", "water", "pool")]  # fmt: skip
REQUESTS = ["Describe {topic}", "Tell me about {topic}", "Write a short note about {topic}"]


def _constraints(rng: random.Random, word: str, other: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """name -> (group, spoken phrase, rule). At most one constraint per group is combined."""
    few = rng.choice([20, 30, 40])
    many = rng.choice([30, 50])
    bullets = rng.choice([2, 3, 4])
    return {
        "fewer_words": ("length", f"in fewer than {number_words(few)} words",
                        {"id": "length_constraints:number_words", "relation": "less than", "num_words": few}),
        "more_words": ("length", f"in at least {number_words(many)} words",
                       {"id": "length_constraints:number_words", "relation": "at least", "num_words": many}),
        "sentences": ("length", "in at least three sentences",
                      {"id": "length_constraints:number_sentences", "relation": "at least",
                       "num_sentences": 3}),
        "lowercase": ("case", "using only lower case letters", {"id": "change_case:english_lowercase"}),
        "capitals": ("case", "using only capital letters", {"id": "change_case:english_capital"}),
        "forbidden": ("lexical", f"without using the word {word}",
                      {"id": "keywords:forbidden_words", "forbidden_words": [word]}),
        "repeat_word": ("lexical", f"using the word {other} at least twice",
                        {"id": "keywords:frequency", "keyword": other, "frequency": 2,
                         "relation": "at least"}),
        "no_comma": ("punctuation", "without using any commas", {"id": "punctuation:no_comma"}),
        "bullets": ("format", f"as exactly {number_words(bullets)} markdown bullet points",
                    {"id": "detectable_format:number_bullet_lists", "num_bullets": bullets}),
        "json": ("format", "with your whole answer in JSON format", {"id": "detectable_format:json_format"}),
        "ending": ("format", "and end your answer with the exact question: Is there anything else?",
                   {"id": "startend:end_checker", "end_phrase": "Is there anything else?"}),
        "quotes": ("format", "with your whole answer wrapped in double quotation marks",
                   {"id": "startend:quotation"}),
        "title": ("format", "and give it a title wrapped in double angle brackets",
                  {"id": "detectable_format:title"}),
    }  # fmt: skip


# Pairs that contradict each other or the JSON syntax.
INCOMPATIBLE = {
    frozenset({"json", "no_comma"}),
    frozenset({"json", "sentences"}),
    frozenset({"title", "capitals"}),
}


def ifeval_question(rng: random.Random) -> Question:
    topic, word, other = rng.choice(TOPICS)
    constraints = _constraints(rng, word, other)
    names = [rng.choice(sorted(constraints))]
    if rng.random() < 0.4:
        group = constraints[names[0]][0]
        partners = [
            n
            for n in sorted(constraints)
            if constraints[n][0] != group and frozenset({n, names[0]}) not in INCOMPATIBLE
        ]
        names.append(rng.choice(partners))
    phrases = sorted((constraints[n][1] for n in names), key=lambda p: p.startswith("and "))
    # "and ..." phrases (a closing phrase, a title) read best last and need their "and" only after the request
    joined = " and ".join(p.removeprefix("and ") for p in phrases)
    if phrases[0].startswith("and "):
        joined = "and " + joined
    text = rng.choice(REQUESTS).format(topic=topic) + " " + joined
    text += "" if text.endswith("?") else "."
    rules = tuple(constraints[n][2] for n in names)
    subset = constraints[names[0]][0] if len(names) == 1 else "combined"
    return Question(subset, text, (), None, rules, {"topic": topic})


# ---- agreement ----

OPEN_REQUESTS = [
    "Give me one tip about {topic}.",
    "Why do people enjoy {topic}?",
    "Describe {topic} in one sentence.",
    "What is the best thing about {topic}?",
]


def agreement_requests() -> list[str]:
    """Every open request of the agreement task, in a fixed order (the suite samples from them)."""
    return [r.format(topic=t) for r in OPEN_REQUESTS for t, _, _ in TOPICS]
