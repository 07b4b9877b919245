"""A deterministic English sentence generator for the synthetic corpus: word lists and clause templates.

`sentence(seed, key)` is a pure function of its arguments (a `random.Random` seeded from a string, which
Python hashes with SHA-512, stable across runs and platforms). Sentences join one to three clauses until
they reach a target length in words, drawn from `words`; with eSpeak's default rate (about 2.9 words per
second) 6 to 16 words lands in the corpus's 2-8 s range.
"""

from __future__ import annotations

import random

NOUNS = """
apple artist bag baker ball banana basket beach bear bell bicycle bird blanket boat book bottle box boy
bread bridge brother brush bucket butter button cake camera candle captain car carpet cat chair cheese
child church city clock cloud coat coffee cookie cousin cow cup desk doctor dog door dragon dress drum
eagle egg elephant engine farmer feather fence field fish flower forest fox friend frog garden gate
giant girl glass goat guitar hammer hat horse house island jacket jar kettle key king kitchen kite
ladder lamp leaf lemon letter lion map market mirror monkey moon mountain mouse nurse ocean orange owl
painter paper parrot pencil piano picture pilot pocket pony potato queen rabbit radio river road robot
rocket sailor sandwich scarf school sheep shell ship shoe singer sister snake soldier spoon star stone
student sugar sun table teacher tiger tomato tower town toy train tree truck turtle umbrella village
violin wagon wall watch whale window wizard wolf
""".split()

ADJECTIVES = """
ancient angry bright brave busy calm cheerful clever cold curious dark dusty eager empty enormous
fancy fast friendly gentle giant golden green happy heavy hollow honest huge hungry icy jolly kind large
lazy little lonely loud lucky modern muddy narrow noisy old orange patient pink polite proud purple
quiet quick rapid red rough round rusty sad shiny short silent silver sleepy slow small smooth soft
sour strange strong sweet tall tiny tired wet white wild wise wooden yellow young
""".split()

VERBS_PAST = """
admired borrowed built carried cleaned collected covered chased dropped fixed followed found grabbed
helped hid kept lifted liked lost moved noticed opened painted passed pulled pushed visited watched
washed wanted touched threw saw sold sent shook showed stole studied tested wrapped packed picked
""".split()

VERBS_INTRANSITIVE = """
arrived danced disappeared escaped fell laughed listened paused rested shouted slept smiled sneezed
stopped trembled vanished waited whispered wandered worked yawned jumped cried sang ran
""".split()

ADVERBS = """
quickly slowly quietly loudly happily sadly carefully suddenly gently proudly eagerly calmly nervously
politely bravely softly early later yesterday again
""".split()

PLACES = """
near the river|behind the old barn|inside the kitchen|across the street|under the bridge|on the hill|
beside the lake|at the market|in the garden|through the forest|by the window|along the beach|
outside the school|at the station|in the village|over the fence|into the cellar|on the roof
""".replace("\n", "").split("|")

NAMES = """
Anna Ben Clara David Emma Frank Grace Henry Isabel Jack Kate Leo Maria Nick Olivia Peter Rose Sam
Tina Victor Wendy Yusuf Zoe Oscar Lucy Hugo Nora Felix Ruth Simon
""".split()

TIMES = """
this morning|last night|on Monday|every evening|after lunch|before dinner|at noon|in the spring|
during the storm|last summer|at midnight|on Sunday afternoon
""".replace("\n", "").split("|")

NUMBERS = "two three four five six seven eight nine ten eleven twelve twenty".split()

CONNECTORS = [", and", ", but", ", so", " while", " because", " before", " after", ", then"]

# {N} noun, {A} adjective, {V} transitive past verb, {I} intransitive verb, {D} adverb, {P} place,
# {M} name, {T} time, {U} number
TEMPLATES = [
    "the {A} {N} {V} the {N}",
    "the {N} {I} {P}",
    "{M} {V} a {A} {N} {P}",
    "{M} {I} {D}",
    "a {A} {N} {I} {T}",
    "{T} the {N} {V} {U} {N}s",
    "the {A} {N} {D} {V} the {A} {N}",
    "{M} and {M} {V} the {N} {P}",
    "my {N} {V} your {A} {N}",
    "the {N} of the {N} {I}",
    "{U} {A} {N}s {I} {P}",
    "{M} {V} the {N} {T}",
    "nobody {V} the {A} {N}",
    "the {N} {I} {D} {P}",
    "{M} saw that the {N} {I}",
    "a {N} and a {N} {I} {T}",
]
QUESTIONS = [
    "did {M} see the {A} {N}",
    "why did the {N} {I}",
    "where is the {A} {N}",
    "who {V} the {N} {P}",
    "have you seen my {A} {N}",
]


def _fill(template: str, rng: random.Random) -> str:
    lists = {"N": NOUNS, "A": ADJECTIVES, "V": VERBS_PAST, "I": VERBS_INTRANSITIVE, "D": ADVERBS,
             "P": PLACES, "M": NAMES, "T": TIMES, "U": NUMBERS}
    out = []
    i = 0
    while i < len(template):
        if template[i] == "{":
            j = template.index("}", i)
            out.append(rng.choice(lists[template[i + 1:j]]))
            i = j + 1
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


def sentence(seed: int, key: str, words: tuple[int, int] = (6, 16)) -> str:
    """A sentence for (`seed`, `key`) with about `words` = (min, max) words, ending in . or ? ."""
    rng = random.Random(f"vqspeech-sentence/{seed}/{key}")
    if rng.random() < 0.12:
        text = _fill(rng.choice(QUESTIONS), rng)
        if len(text.split()) < words[0]:
            text += " " + rng.choice(TIMES)
        return text[0].upper() + text[1:] + "?"
    target = rng.randint(*words)
    text = _fill(rng.choice(TEMPLATES), rng)
    while len(text.split()) < target:
        more = _fill(rng.choice(TEMPLATES), rng)
        if len(text.split()) + len(more.split()) > words[1]:
            break
        text += rng.choice(CONNECTORS) + " " + more
    while len(text.split()) < words[0]:  # a short clause that could not grow: add a time
        text += " " + rng.choice(TIMES)
    return text[0].upper() + text[1:] + "."


def transcript(text: str) -> str:
    """The Kaldi `text` form of a sentence: upper case words, punctuation removed."""
    keep = "".join(c if c.isalnum() or c in "'" else " " for c in text)
    return " ".join(keep.upper().split())
