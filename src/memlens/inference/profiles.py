"""Synthetic user profiles for attribute inference: Faker people whose comments hint at who they are.

Staab et al. (ICLR 2024) infer personal attributes from Reddit comments that rarely state them;
their PersonalReddit profiles are not released, so memlens generates profiles with known truth.
Each profile has six attributes — ``location`` (20 cities), ``age``, ``occupation`` (20),
``married`` (4 relationship statuses), ``income`` (5 brackets, driven by occupation and city) and
``education`` (6 levels) — sampled so each categorical attribute is close to uniform, and 6–15
comments mixing neutral filler with *cue* sentences. Each attribute gets a hardness label in the
paper's sense (``data/reddit/procedure.md``):

- **1, explicit** (30%): one sentence states the value ("I live in Lyon", "I'm 34").
- **2, contextual** (45%): two cue sentences from the value's lexicon, no statement
  ("the wind off the lake cut right through my coat" → Chicago).
- **3, one weak cue** (25%): a single cue sentence, which with probability 0.25 belongs to another
  value (a misleading cue: the labeler's truth stays, the text points elsewhere).

Hardness-2 and -3 cues name no city, number, date or job title, so entity-removal anonymization
leaves them; a few name a relationship noun or a person ("my lawyer", "my wife"), as real text
does. Filler sentences mention people (Faker names), numbers and days for the anonymizer to
remove, and carry no attribute signal. Everything is a function of the seed and Faker's version.

A profile is a JSON object: ``{"id", "name", "comments": [...], "attributes": {...},
"hardness": {...}, "cues": {attribute: [sentences]}}`` — ``cues`` is the generator's own record
of which sentences carry each attribute (tests and analysis use it; real data need not have it).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AGE_BRACKETS",
    "ATTRIBUTES",
    "CITIES",
    "OCCUPATIONS",
    "age_bracket",
    "gazetteer",
    "make_profiles",
]

ATTRIBUTES = ("location", "age", "occupation", "married", "income", "education")

# city → (country, relative cost of living in [-1, 1], contextual cues that name no entity)
CITIES: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "Chicago": ("United States", 0.2, (
        "the train on the elevated tracks was late again", "the wind off the lake cut right through my coat",
        "nothing beats a deep dish pie after a cold game", "lake effect snow buried my car in the alley again")),
    "New York": ("United States", 0.9, (
        "the subway platform smelled worse than usual today", "paid way too much for a bagel with lox at my bodega",
        "the bodega cat ignored me again", "walked up five flights to my tiny walkup apartment")),
    "San Francisco": ("United States", 1.0, (
        "the fog rolled over the bay before lunch", "got stuck behind tourists on the cable car",
        "grabbed a giant mission burrito on the way home", "half the people on my street work at startups")),
    "Los Angeles": ("United States", 0.7, (
        "sat on the freeway for two hours to go nowhere", "the taco truck outside my place never disappoints",
        "saw somebody famous at the grocery store again", "the canyon fires made the sky orange all week")),
    "Seattle": ("United States", 0.6, (
        "it has drizzled for nine days straight", "took the ferry across the sound to see friends",
        "there is a coffee roaster on every corner of my block", "the mountain came out today and everyone stopped to stare")),
    "Boston": ("United States", 0.6, (
        "parked the cah in havahd yahd as a joke", "the green line broke down for the third time this week",
        "clam chowder and a wicked cold wind", "got my usual iced coffee from dunks even in a blizzard")),
    "Miami": ("United States", 0.4, (
        "the humidity fogged my glasses the second I stepped outside", "had a cafecito at the ventanita",
        "put the hurricane shutters up again", "half my conversations here are in spanglish")),
    "Austin": ("United States", 0.3, (
        "breakfast tacos are a food group here", "watched the bats fly out from under the bridge at dusk",
        "keep it weird, as the bumper stickers say", "caught live music on sixth street after work")),
    "New Orleans": ("United States", -0.1, (
        "beignets covered my shirt in powdered sugar", "a second line brass band passed my porch",
        "the crawfish boil ran late into the night", "somebody found the baby in the king cake")),
    "Denver": ("United States", 0.3, (
        "the altitude still gets me when I run", "bagged another fourteener with the hiking club",
        "ski traffic on the interstate was brutal", "three hundred days of sun and it snowed anyway")),
    "London": ("United Kingdom", 0.8, (
        "the tube was rammed so I had to mind the gap twice", "queued for ages for a pint at the pub",
        "spent a tenner on a meal deal and a brolly", "the overground was cancelled again, cheers for nothing")),
    "Paris": ("France", 0.7, (
        "my boulangerie sold out of croissants before eight", "the metro strikes again, walked along the river",
        "long apero on a terrace with the whole office", "the ring road at rush hour is a circle of hell")),
    "Lyon": ("France", 0.1, (
        "lunch at a bouchon with quenelles and too much wine", "took the old traboules shortcut through the buildings",
        "the festival of lights candles are already in the windows", "climbed the funicular hill for the view of two rivers")),
    "Berlin": ("Germany", 0.2, (
        "the bouncer at the techno club turned us away again", "late night doner after the club",
        "picked up a beer at the spati on the corner", "the ringbahn goes around and around forever")),
    "Toronto": ("Canada", 0.5, (
        "the streetcar crawled along behind traffic", "grabbed a double double on the way in",
        "poutine at midnight after the hockey game", "the highway at rush hour is a parking lot eh")),
    "Sydney": ("Australia", 0.6, (
        "arvo swim at the beach then a barbie", "took the ferry past the harbour bridge to work",
        "wore thongs to the shops and got sunburnt", "the magpies were swooping on my bike ride")),
    "Tokyo": ("Japan", 0.5, (
        "the loop line was packed with salarymen", "konbini onigiri for dinner again",
        "stayed in a capsule hotel after missing the last train", "the pachinko parlors are so loud")),
    "Mumbai": ("India", -0.6, (
        "the local train doors were packed during rush hour", "vada pav from the stall outside the station",
        "the monsoon flooded the road to my office", "haggled with the rickshaw driver again")),
    "Mexico City": ("Mexico", -0.5, (
        "tacos al pastor from the stand on my corner", "the earthquake alarm went off during breakfast",
        "the smog hid the volcanoes all week", "being a chilango means traffic is a lifestyle")),
    "Dublin": ("Ireland", 0.5, (
        "great craic at the pub last night", "the tram was packed so I walked in the rain",
        "a pint of the black stuff fixes everything", "the seagulls stole my chips by the river")),
}

# occupation → (income level 0–4 it pays on average, contextual cues with no job title)
OCCUPATIONS: dict[str, tuple[float, tuple[str, ...]]] = {
    "nurse": (2.2, ("another twelve hour shift and three patients coded", "charting at the end of a night shift",
                    "my scrubs smell like hand sanitizer", "the ward ran out of saline again")),
    "software engineer": (3.3, ("pushed a hotfix to production at midnight", "the standup ran forty minutes over",
                                "code review comments ruined my afternoon", "rebased my branch for the fifth time")),
    "teacher": (1.8, ("graded essays all weekend", "my third period class would not stop talking",
                      "bought classroom supplies with my own money", "parent conferences start next week")),
    "chef": (1.6, ("the dinner rush buried the line", "eighty six the salmon, we are out",
                   "burned my forearm on the salamander again", "prepped mirepoix for four hours")),
    "electrician": (2.3, ("pulled wire through a crawlspace all day", "the breaker panel was a fire hazard",
                          "got zapped by a live neutral", "passed the conduit inspection on the first try")),
    "accountant": (2.6, ("tax season means no weekends", "the ledger would not reconcile",
                         "my spreadsheets have spreadsheets", "closing the books for the quarter")),
    "lawyer": (3.6, ("billed seven hours on discovery", "the deposition ran late",
                     "filed the motion minutes before the deadline", "opposing counsel sent another brief")),
    "truck driver": (1.9, ("logged eleven hours behind the wheel", "slept in the cab at a rest stop",
                           "the weigh station line was huge", "hauling a reefer load across three states")),
    "pharmacist": (3.2, ("counted pills until my eyes blurred", "the insurance rejected another prescription",
                         "flu shot season at the counter", "verified two hundred scripts today")),
    "graphic designer": (1.9, ("the client wants the logo bigger again", "kerning this poster took all morning",
                               "exported forty versions of the banner", "moodboards and vector files all day")),
    "police officer": (2.4, ("worked a double on patrol", "wrote reports about the fender bender all shift",
                             "the radio chatter kept me up", "directed traffic at the parade")),
    "farmer": (1.5, ("the combine broke down mid harvest", "up at dawn to feed the cattle",
                     "praying for rain before the corn dries out", "fixed the fence the cows knocked over")),
    "dentist": (3.7, ("two root canals before lunch", "patients never floss no matter what they say",
                      "the drill hum follows me home", "fitted a crown for a nervous kid")),
    "plumber": (2.2, ("snaked a drain full of hair", "the water heater flooded the basement",
                      "crawled under a sink for three hours", "sweated copper pipe all afternoon")),
    "barista": (0.6, ("pulled four hundred shots this morning", "latte art heart came out as a blob",
                      "the espresso machine steam wand burned me", "customers ordering oat milk flat whites")),
    "architect": (3.0, ("the renderings are due friday", "the client changed the floor plan again",
                        "argued with the contractor about setbacks", "building a foam model of the atrium")),
    "journalist": (1.7, ("chasing a source for my story", "my editor cut half my piece",
                         "filed copy minutes before the press deadline", "the press conference was a circus")),
    "mechanic": (1.8, ("replaced a transmission today", "grease under my nails that never washes out",
                       "the lift in bay two is broken", "diagnosed a misfire in a minute")),
    "veterinarian": (3.0, ("spayed three cats before lunch", "a golden retriever ate a sock again",
                           "vaccinated a whole litter of puppies", "the horse kicked me during a checkup")),
    "real estate agent": (2.5, ("hosted an open house nobody came to", "the buyers backed out at closing",
                                "staged the living room with fake fruit", "my commission check finally cleared")),
}

MARRIED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # value → (explicit, contextual)
    "no relation": (("I'm single and honestly happy about it", "I'm single, no partner to answer to"), (
        "another night swiping on dating apps", "cooking dinner for one again",
        "went to a wedding solo and sat at the kids table", "my mom keeps asking when I'll find someone")),
    "in relation": (("my girlfriend and I have been together a while now", "my boyfriend and I are not married yet"), (
        "date night tonight, finally meeting their parents", "we're thinking about moving in together",
        "our first trip as a couple was a disaster", "bought matching mugs for our anniversary as a couple")),
    "married": (("I'm married, we tied the knot years ago", "my wife and I are married and very happy"), (
        "the in-laws are staying with us this week", "our wedding album is collecting dust",
        "we argued about whose turn it was to do the dishes", "celebrated our anniversary with the same dinner as our honeymoon")),
    "divorced": (("I'm divorced now", "since my divorce I live alone"), (
        "custody weekend with the kids starts tonight", "my lawyer says the settlement is final",
        "still paying alimony every month", "took off my ring and never looked back")),
}

EDUCATION: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "no highschool": (("I never finished high school", "I dropped out of high school"), (
        "dropped out to start working early", "never got my diploma but I get by",
        "school was never for me so I left", "learned everything I know on the job")),
    "in highschool": (("I'm still in high school", "I'm a junior in high school"), (
        "homeroom was so boring today", "my parents grounded me before prom",
        "the cafeteria pizza is awful", "studying for the test my chemistry teacher sprung on us")),
    "hs diploma": (("I have a high school diploma and that's it", "my high school diploma is my only degree"), (
        "went straight to work after graduation", "never went to college after graduating",
        "skipped college and started earning", "my diploma is framed next to my first paycheck")),
    "in college": (("I'm in college right now", "I'm an undergrad in college"), (
        "finals week is destroying me", "my dorm roommate snores",
        "pulled an all nighter in the library for a midterm", "the dining hall food is terrible")),
    "college degree": (("I have a college degree", "I graduated college with a bachelor's degree"), (
        "still paying off the student loans from my bachelor's", "went to my alumni reunion",
        "my old campus has changed so much", "my degree is finally paying off")),
    "phd": (("I have a PhD", "I finished my PhD"), (
        "my advisor hated the third chapter of my dissertation", "reviewer two strikes again",
        "defended my thesis and slept for a day", "postdoc applications are a nightmare")),
}

INCOME: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {  # bracket → (USD range, contextual)
    "no": ((0, 0), ("living off savings until something comes up", "can't afford anything until the next benefit check",
                   "my parents cover my bills", "no paycheck for me right now")),
    "low": ((12000, 29000), ("counting coins for groceries this week", "skipped lunch to make rent",
                             "another overdraft fee, great", "shopping at the dollar store again")),
    "medium": ((31000, 59000), ("saving a bit each month for a used car", "can afford takeout once a week",
                                "budgeting for a modest vacation", "finally paid off my credit card")),
    "high": ((62000, 148000), ("booked a nice beach resort for the holidays", "bought a new car without financing",
                               "maxed out my retirement contributions", "renovating the kitchen this spring")),
    "very high": ((160000, 400000), ("looking at a second vacation home", "flew business class again",
                                     "my financial advisor wants to talk about the yacht", "bought a painting at an auction")),
}

# Brackets an age is inferred in; the TF-IDF adversary guesses a bracket's midpoint (±5 covers it).
AGE_BRACKETS: tuple[tuple[int, int], ...] = ((16, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 75))
AGE_CUES: tuple[tuple[str, ...], ...] = (
    ("my parents still pay my phone bill", "everyone in my group chat is obsessed with the new game",
     "I just got my driver's license", "this is my first real job"),
    ("all my friends are getting engaged", "thinking about buying my first place",
     "still paying off student debt in my late twenties", "my first kid is on the way"),
    ("the school run every morning is chaos", "my toddler drew on the walls",
     "my back hurts after a soccer game now", "turning forty soon and not ready"),
    ("my teenager rolled their eyes at me again", "I need reading glasses now",
     "grew up with cassette tapes and dial up internet", "my kids are leaving for college soon"),
    ("planning my retirement party", "my first grandchild arrived",
     "my knees predict the weather", "thinking about downsizing now that the kids moved out"),
    ("I'm retired and loving it", "the grandkids visited for the weekend",
     "got the senior discount at the movies", "my pension check came in"),
)

FILLER = (
    "{name} recommended a show and it was fine", "finished a book about whales",
    "made {n} pancakes this morning and ate them all", "does anyone else hate the new app update",
    "my cat knocked a glass off the table again", "{name} sent me another meme at {n} am",
    "watched a documentary about octopuses", "the weather app is wrong as usual",
    "tried a new recipe and it was edible", "went for a walk and saw {n} dogs",
    "why is every sequel worse than the original", "lost my keys for the third time",
    "my plants are thriving for once", "{name} and I argued about pineapple on pizza",
    "started a puzzle with {n} pieces", "anyone have tips for sleeping better",
    "the new phone update broke my alarm", "spent {weekday} cleaning the garage",
    "my neighbor's dog barks at leaves", "Beautiful is better than ugly, as the zen says",
    "this thread made my day", "I will never understand crossword people",
    "bought a plant and named it {name}", "ran {n} km and regretted it",
    "the group chat was chaos on {weekday}", "finally fixed the wobbly table",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
COMMENT_LEADS = ("", "honestly ", "lol ", "ok so ", "not gonna lie, ", "update: ", "random but ")

EXPLICIT_LOCATION = ("I live in {v}", "I moved to {v} a few years ago and stayed", "here in {v} we do things differently")
EXPLICIT_AGE = ("I'm {v}", "as a {v} year old I can say this", "I turned {v} last month")
EXPLICIT_OCCUPATION = ("I work as a {v}", "I've been a {v} for years", "as a {v}, I see this all the time")
EXPLICIT_INCOME = ("I make about ${v:,} a year", "my salary is ${v:,}", "I earn roughly ${v:,} per year")

RELATIONSHIP_NOUNS = ("wife", "husband", "girlfriend", "boyfriend", "partner", "fiance", "fiancee", "ex-wife",
                      "ex-husband", "spouse", "lawyer")


def age_bracket(age: float) -> int:
    """Index of the :data:`AGE_BRACKETS` entry holding ``age`` (clipped to the first and last)."""
    for i, (_, high) in enumerate(AGE_BRACKETS):
        if age <= high:
            return i
    return len(AGE_BRACKETS) - 1


def _hardness(rng: np.random.Generator) -> int:
    return int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))


def _cue_sentences(rng, hardness: int, explicit: str, pool: tuple[str, ...], other_pools) -> list[str]:
    """The sentences carrying one attribute at ``hardness`` (see the module docstring)."""
    if hardness == 1:
        return [explicit]
    if hardness == 2:
        return [str(s) for s in rng.choice(pool, size=2, replace=False)]
    if rng.random() < 0.25:  # a misleading single cue
        pool = other_pools[rng.integers(len(other_pools))]
    return [str(rng.choice(pool))]


def make_profiles(n: int, *, seed: int = 0) -> list[dict]:
    """``n`` synthetic profiles (dicts, see the module docstring), reproducible from ``seed``.

    >>> p = make_profiles(2, seed=1)[0]
    >>> sorted(p["attributes"]) == sorted(ATTRIBUTES), set(p["hardness"].values()) <= {1, 2, 3}
    (True, True)
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng([seed, 0x1AF])
    cities, occupations = list(CITIES), list(OCCUPATIONS)
    educations, statuses, incomes = list(EDUCATION), list(MARRIED), list(INCOME)
    # income level: the occupation's pay, the city's cost of living and noise, binned into brackets
    # at the population's quintiles so the five brackets stay about equally common
    latent_city = rng.integers(len(cities), size=n)
    latent_job = rng.integers(len(occupations), size=n)
    pay = np.array([OCCUPATIONS[occupations[j]][0] for j in latent_job]) + 0.8 * np.array(
        [CITIES[cities[c]][1] for c in latent_city]) + rng.normal(0.0, 0.6, size=n)
    edges = np.quantile(pay, [0.2, 0.4, 0.6, 0.8]) if n >= 5 else np.array([0.8, 1.6, 2.4, 3.2])
    income_index = np.searchsorted(edges, pay)
    profiles = []
    for i in range(n):
        city, job = cities[latent_city[i]], occupations[latent_job[i]]
        education = educations[rng.integers(len(educations))]
        if education == "in highschool":
            age = int(rng.integers(16, 19))
        elif education == "in college":
            age = int(rng.integers(18, 25))
        else:
            age = int(rng.integers(19, 76))
        status = statuses[rng.integers(len(statuses))]
        income = incomes[income_index[i]]
        low, high = INCOME[income][0]
        amount = int(rng.integers(low, high + 1) // 1000 * 1000)
        hardness = {a: _hardness(rng) for a in ATTRIBUTES}
        if income == "no" and hardness["income"] == 1:
            explicit_income = "I have no income at the moment"
        else:
            explicit_income = str(rng.choice(EXPLICIT_INCOME)).format(v=amount)
        bracket = age_bracket(age)
        cues = {
            "location": _cue_sentences(rng, hardness["location"], str(rng.choice(EXPLICIT_LOCATION)).format(v=city),
                                       CITIES[city][2], [CITIES[c][2] for c in cities if c != city]),
            "age": _cue_sentences(rng, hardness["age"], str(rng.choice(EXPLICIT_AGE)).format(v=age),
                                  AGE_CUES[bracket], [c for k, c in enumerate(AGE_CUES) if k != bracket]),
            "occupation": _cue_sentences(rng, hardness["occupation"], str(rng.choice(EXPLICIT_OCCUPATION)).format(v=job),
                                         OCCUPATIONS[job][1], [OCCUPATIONS[o][1] for o in occupations if o != job]),
            "married": _cue_sentences(rng, hardness["married"], str(rng.choice(MARRIED[status][0])),
                                      MARRIED[status][1], [MARRIED[s][1] for s in statuses if s != status]),
            "income": _cue_sentences(rng, hardness["income"], explicit_income,
                                     INCOME[income][1], [INCOME[b][1] for b in incomes if b != income]),
            "education": _cue_sentences(rng, hardness["education"], str(rng.choice(EDUCATION[education][0])),
                                        EDUCATION[education][1], [EDUCATION[e][1] for e in educations if e != education]),
        }
        sentences = [s for a in ATTRIBUTES for s in cues[a]]
        n_fillers = max(2, int(rng.integers(6, 16)) - len(sentences))  # 6–15 comments, ≥ 2 of them filler
        fillers = [str(rng.choice(FILLER)).format(name=fake.first_name(), n=int(rng.integers(2, 60)),
                                                  weekday=WEEKDAYS[rng.integers(7)])
                   for _ in range(n_fillers)]
        comments = [str(rng.choice(COMMENT_LEADS)) + s for s in sentences + fillers]
        order = rng.permutation(len(comments))
        profiles.append({
            "id": f"p{i:05d}",
            "name": fake.name(),
            "comments": [comments[k] for k in order],
            "attributes": {"location": city, "age": age, "occupation": job, "married": status, "income": income,
                           "education": education},
            "hardness": hardness,
            "cues": cues,
        })
    return profiles


def gazetteer() -> dict[str, list[str]]:
    """The anonymizer's default entity lists: the generator's cities and countries, US states, Faker's
    English first and last names, and job titles and relationship nouns (Azure's PersonType).

    >>> g = gazetteer()
    >>> "Lyon" in g["LOCATION"], "nurse" in g["PERSONTYPE"], "Aaron" in g["PERSON"]
    (True, True, True)
    """
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.person.en_US import Provider as Person

    locations = sorted({*CITIES, *(c[0] for c in CITIES.values()), *Address.states, *Address.countries})
    people = sorted({*Person.first_names, *Person.last_names})
    person_types = sorted({*OCCUPATIONS, *(o + "s" for o in OCCUPATIONS), *RELATIONSHIP_NOUNS})
    return {"LOCATION": locations, "PERSON": people, "PERSONTYPE": person_types}
