"""Spoken-QA passages in the style of LibriSQA part I: a passage, one open question about it, and the
gold answer, whose word span is located in the passage's words.

A passage describes one person with 3-6 facts (job, city, age, pet, colour, hobby, siblings, instrument),
each phrased by one of several templates, interleaved with natural sentences (the SIFT text source) so
the passage is not a list of facts. The question asks about one fact; the answer is that fact's value.
Filler sentences that contain an answer word are skipped, so every answer occurs exactly once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from speechalign.text import normalise_token, number_words

FEMALE_NAMES = [
    "Alice",
    "Anna",
    "Clara",
    "Emma",
    "Grace",
    "Helen",
    "Julia",
    "Laura",
    "Lucy",
    "Maria",
    "Nora",
    "Olivia",
    "Rose",
    "Sarah",
    "Sophie",
    "Susan",
]
MALE_NAMES = [
    "Adam",
    "Daniel",
    "David",
    "Edward",
    "Frank",
    "George",
    "Henry",
    "Jack",
    "James",
    "Leo",
    "Mark",
    "Oliver",
    "Paul",
    "Peter",
    "Simon",
    "Thomas",
]
CITIES = [
    "Boston",
    "Denver",
    "Chicago",
    "Dallas",
    "Seattle",
    "Portland",
    "Phoenix",
    "Atlanta",
    "Houston",
    "Miami",
    "Detroit",
    "Memphis",
]
JOBS = [
    "baker",
    "carpenter",
    "dentist",
    "farmer",
    "gardener",
    "journalist",
    "lawyer",
    "librarian",
    "mechanic",
    "nurse",
    "painter",
    "pilot",
    "plumber",
    "teacher",
    "tailor",
    "waiter",
]
PETS = ["cat", "dog", "parrot", "rabbit", "turtle", "hamster", "goldfish", "pony"]
PET_NAMES = [
    "Biscuit",
    "Pepper",
    "Shadow",
    "Mango",
    "Ginger",
    "Pickles",
    "Whiskers",
    "Oscar",
    "Daisy",
    "Bruno",
]
COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "silver", "brown"]
HOBBIES = ["fishing", "painting", "gardening", "swimming", "chess", "cycling", "knitting", "hiking", "baking"]
INSTRUMENTS = ["piano", "violin", "guitar", "trumpet", "flute", "cello", "drums", "harp"]


@dataclass(frozen=True)
class Fact:
    sentence: str  # how the passage states it
    question: str
    answer: str  # the words to locate in the passage


@dataclass(frozen=True)
class QAItem:
    passage: str
    question: str
    answer: str
    gender: str  # of the person described (not of the voice)


def _facts(rng: random.Random, name: str, pronoun: str, possessive: str) -> list[Fact]:
    job, city = rng.choice(JOBS), rng.choice(CITIES)
    age = number_words(rng.randint(21, 79))
    pet, pet_name = rng.choice(PETS), rng.choice(PET_NAMES)
    colour, hobby, instrument = rng.choice(COLOURS), rng.choice(HOBBIES), rng.choice(INSTRUMENTS)
    siblings = number_words(rng.randint(2, 9))
    article = "an" if job[0] in "aeiou" else "a"
    # (statement, question, answer) per fact; one phrasing of each fact is drawn
    options = [
        [
            (f"{name} works as {article} {job} in a small town.", f"What does {name} do for a living?", job),
            (f"By trade, {name} is {article} {job}.", f"What is {name}'s job?", job),
        ],
        [
            (f"{pronoun.capitalize()} grew up in {city}.", f"In which city did {name} grow up?", city),
            (f"{name} was born and raised in {city}.", f"Where was {name} raised?", city),
        ],
        [
            (f"{name} is {age} years old.", f"How old is {name}?", age),
            (f"Last spring {name} turned {age}.", f"What age did {name} turn last spring?", age),
        ],
        [
            (
                f"{pronoun.capitalize()} has a {pet} called {pet_name}.",
                f"What is {name}'s pet called?",
                pet_name,
            ),
            (f"At home {name} keeps a {pet}.", f"What animal does {name} keep at home?", pet),
        ],
        [
            (
                f"{possessive.capitalize()} favourite colour is {colour}.",
                f"What is {name}'s favourite colour?",
                colour,
            ),
            (f"{name} painted the front door {colour}.", f"What colour is {name}'s front door?", colour),
        ],
        [(f"On weekends {name} enjoys {hobby}.", f"What does {name} enjoy on weekends?", hobby)],
        [(f"{name} has {siblings} brothers and sisters.", f"How many siblings does {name} have?", siblings)],
        [(f"Every evening {pronoun} practises the {instrument}.", f"What does {name} practise?", instrument)],
    ]
    return [Fact(*rng.choice(group)) for group in options]


def answer_span(passage_words: list[str], answer: str) -> tuple[int, int] | None:
    """Word indices (end exclusive) of the single occurrence of ``answer`` in the passage, compared
    after normalisation; None if it is absent or occurs more than once."""
    target = [normalise_token(t) for t in answer.split()]
    words = [normalise_token(w) for w in passage_words]
    hits = [i for i in range(len(words) - len(target) + 1) if words[i : i + len(target)] == target]
    return (hits[0], hits[0] + len(target)) if len(hits) == 1 else None


def make_item(rng: random.Random, fillers: list[str], target_words: int) -> QAItem:
    """One passage of about ``target_words`` words with one question on it."""
    gender = rng.choice(["female", "male"])
    name = rng.choice(FEMALE_NAMES if gender == "female" else MALE_NAMES)
    pronoun, possessive = ("she", "her") if gender == "female" else ("he", "his")
    facts = _facts(rng, name, pronoun, possessive)
    rng.shuffle(facts)
    n_facts = rng.randint(3, 6)
    facts = facts[:n_facts]
    asked = rng.choice(facts)
    answer_tokens = {normalise_token(t) for f in facts for t in f.answer.split()}
    sentences = [f.sentence for f in facts]
    n_words = sum(len(s.split()) for s in sentences)
    while n_words < target_words:
        filler = rng.choice(fillers)
        if {normalise_token(t) for t in filler.split()} & answer_tokens:
            continue
        sentences.insert(rng.randint(1, len(sentences)), filler)
        n_words += len(filler.split())
    return QAItem(" ".join(sentences), asked.question, asked.answer, gender)
