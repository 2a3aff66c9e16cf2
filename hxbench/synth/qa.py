"""Audio-QA items in the TriviaQA style, written from facts the generator knows.

No dataset text is copied: the facts below are common knowledge, and the questions are built
from templates. Each item has a question, the canonical answer and its aliases (the accepted
answers, as TriviaQA's ``Answer.Aliases``), and a category. Splits are assigned by a hash
of the item id, so train and test never share an item, whatever the seed.
"""

from __future__ import annotations

import hashlib

CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Germany", "Berlin"), ("Canada", "Ottawa"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"),
            ("Peru", "Lima"), ("Norway", "Oslo"), ("Greece", "Athens"), ("Ireland", "Dublin"),
            ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Russia", "Moscow"),
            ("Australia", "Canberra"), ("Argentina", "Buenos Aires"), ("Thailand", "Bangkok")]
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
           "eighteen", "nineteen", "twenty"]
FACTS = [
    ("What is the largest planet in the solar system?", "Jupiter", []),
    ("Which planet is known as the red planet?", "Mars", []),
    ("What is the chemical symbol for gold?", "Au", ["A U"]),
    ("How many legs does a spider have?", "eight", ["8"]),
    ("What gas do plants take in from the air?", "carbon dioxide", ["CO2", "C O 2"]),
    ("What is the freezing point of water in degrees Celsius?", "zero", ["0", "0 degrees"]),
    ("Which ocean is the largest?", "Pacific Ocean", ["Pacific", "the Pacific"]),
    ("How many continents are there?", "seven", ["7"]),
    ("What is the closest star to the Earth?", "the Sun", ["Sun", "Sol"]),
    ("Who wrote Romeo and Juliet?", "William Shakespeare", ["Shakespeare"]),
    ("How many days are there in a leap year?", "366", ["three hundred sixty six",
                                                        "three hundred and sixty six"]),
    ("What is the hardest natural substance?", "diamond", ["diamonds"]),
    ("Which animal is known as the king of the jungle?", "lion", ["the lion", "lions"]),
    ("What colour do you get by mixing blue and yellow?", "green", []),
    ("How many sides does a hexagon have?", "six", ["6"]),
]


def items() -> list[dict]:
    """All QA items: {"id", "question", "answer", "aliases", "category"} (deterministic order)."""
    out = []
    for country, capital in CAPITALS:
        out.append({"id": f"capital-{country.lower().replace(' ', '-')}",
                    "question": f"What is the capital city of {country}?",
                    "answer": capital, "aliases": [f"{capital} city"], "category": "geography"})
    for a in range(2, 9):
        for b in (3, 5):
            if a + b <= 20:
                out.append({"id": f"sum-{a}-{b}", "question": f"What is {NUMBERS[a]} plus {NUMBERS[b]}?",
                            "answer": NUMBERS[a + b], "aliases": [str(a + b)], "category": "arithmetic"})
    for i, (q, a, aliases) in enumerate(FACTS):
        out.append({"id": f"fact-{i:02d}", "question": q, "answer": a, "aliases": list(aliases),
                    "category": "general"})
    return out


def split_of(item_id: str, test_fraction: float = 0.3) -> str:
    """'train' or 'test', from a hash of the id (stable across seeds and versions)."""
    h = int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def normalize_answer(text: str) -> str:
    """TriviaQA's answer normalisation: lower case, no punctuation / articles / extra spaces."""
    import re
    import string

    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
