"""Vocabulary of the built-in catalogue: themes described by many near-synonyms.

Items of one theme draw a few words each from a pool of 40, so two items a user
would both like usually share few exact words; a model has to know that
"nebula", "starship" and "cosmos" belong together. Some words sit in two pools
on purpose ("voyage", "kingdom", "market"), as real catalogues are ambiguous.

Tags are paraphrase too: each theme has a pool of 18 tag phrases ("outer space",
"stargazing", "rocketry", ...) of which an item carries one or two, so a given
tag is on few of a theme's items; the generic tags are shared by all themes.

Series: every part of a series names its recurring figure (a first name and a
surname from the lists below) in its description and sometimes in its title;
later parts say they follow on in varied words ("returns", "the third outing",
"picks up where ... left off") rather than with one fixed marker.
"""

THEMES = {
    "space": {
        "words": [
            "astronaut", "galaxy", "orbit", "cosmos", "starship", "nebula", "rocket",
            "interstellar", "lunar", "planet", "comet", "asteroid", "telescope",
            "spacecraft", "celestial", "supernova", "mars", "satellite", "gravity",
            "meteor", "solar", "eclipse", "voyage", "moon", "constellation", "cosmonaut",
            "spacewalk", "exoplanet", "quasar", "stardust", "wormhole", "astronomer",
            "launchpad", "observatory", "starlight", "pulsar", "spaceport", "lightyear",
            "jupiter", "rover",
        ],
        "tags": [
            "outer space", "stargazing", "rocketry", "astrophysics", "sci-fi", "off-world",
            "extraterrestrial", "zero gravity", "spacefaring", "final frontier", "galactic",
            "starfarers", "alien worlds", "deep space", "skywatching", "first contact", "space age",
            "cosmic",
        ],
    },
    "cooking": {
        "words": [
            "recipe", "kitchen", "chef", "baking", "pastry", "spice", "simmer", "skillet",
            "cuisine", "flavor", "dough", "roast", "seasoning", "oven", "braise", "sauce",
            "dessert", "ingredients", "culinary", "feast", "broth", "grill", "bread",
            "soup", "noodles", "supper",
            "marinade", "casserole", "appetizer", "saucepan", "flour", "butter", "garnish",
            "stew", "saute", "glaze", "brunch", "dumplings", "pantry", "whisk",
        ],
        "tags": [
            "food", "eating well", "home chef", "comfort food", "gastronomy", "meal prep", "foodie",
            "cookbooks", "family dinners", "gourmet", "street food", "kitchen craft",
            "weeknight meals", "bakers", "flavours of the world", "slow food", "fine dining",
            "plant-based",
        ],
    },
    "gardening": {
        "words": [
            "garden", "seedling", "compost", "bloom", "orchard", "soil", "perennial",
            "pruning", "greenhouse", "harvest", "blossom", "mulch", "shrub", "botanical",
            "sprout", "trowel", "flowerbed", "herbs", "roses", "tulips", "vegetables",
            "hedge", "meadow", "seeds", "fern", "lawn",
            "hydrangea", "potting", "weeding", "topsoil", "vines", "saplings", "irrigation",
            "foliage", "daffodils", "cuttings", "wheelbarrow", "lavender", "trellis",
            "fertilizer",
        ],
        "tags": [
            "horticulture", "green thumb", "allotment", "houseplants", "landscaping",
            "growing your own", "backyard", "flora", "botany", "outdoor living", "cottage garden",
            "permaculture", "organic growing", "wildflowers", "seed swaps", "grow bags",
            "arboretum", "the outdoors",
        ],
    },
    "detective": {
        "words": [
            "detective", "murder", "clue", "suspect", "investigation", "alibi",
            "homicide", "sleuth", "forensic", "inspector", "culprit", "interrogation",
            "motive", "whodunit", "precinct", "witness", "fingerprints", "autopsy",
            "crime", "evidence", "killer", "mystery", "police", "confession", "heist",
            "gangster",
            "sergeant", "stakeout", "ransom", "kidnapping", "smuggler", "blackmail", "coroner",
            "testimony", "informant", "handcuffs", "perpetrator", "lineup", "mugshot",
            "deduction",
        ],
        "tags": [
            "whodunnit", "crime fiction", "noir", "police procedural", "true crime", "private eye",
            "cold case", "courtroom", "suspense", "thriller", "hardboiled", "cozy mystery",
            "law and order", "underworld", "criminal minds", "puzzle plot", "gumshoe",
            "mob stories",
        ],
    },
    "romance": {
        "words": [
            "love", "heart", "romance", "sweetheart", "wedding", "passion", "courtship",
            "kiss", "beloved", "affection", "longing", "soulmate", "tender", "devotion",
            "flirtation", "honeymoon", "bride", "darling", "embrace", "valentine",
            "engagement", "lovers", "desire", "crush", "date", "proposal",
            "infatuation", "rendezvous", "admirer", "matrimony", "heartbreak", "suitor",
            "yearning", "betrothal", "romantic", "cupid", "sonnet", "elopement", "bouquet",
            "tenderness",
        ],
        "tags": [
            "love story", "relationships", "feel good", "romcom", "happily ever after",
            "heartwarming", "second chances", "enemies to lovers", "slow burn", "dating",
            "marriage", "first love", "chick lit", "star-crossed", "matchmaking", "swoon",
            "sentimental", "couples",
        ],
    },
    "jazz": {
        "words": [
            "saxophone", "improvisation", "swing", "trumpet", "bebop", "melody", "rhythm",
            "quartet", "blues", "groove", "piano", "bassline", "syncopation", "nightclub",
            "bandleader", "chord", "trombone", "drummer", "harmony", "solo", "ballad",
            "orchestra", "tempo", "clarinet", "vinyl", "gig",
            "saxophonist", "scat", "riff", "cornet", "vibraphone", "ragtime", "jamming",
            "crooner", "cabaret", "bassist", "pianist", "encore", "setlist", "soloist",
        ],
        "tags": [
            "music", "jam sessions", "big band", "live music", "musicians", "bandstand",
            "cool school", "brass section", "speakeasy", "record collecting", "standards",
            "songbook", "harlem", "new orleans", "smoky clubs", "composers", "instrumentals",
            "ear training",
        ],
    },
    "fitness": {
        "words": [
            "workout", "cardio", "muscle", "endurance", "marathon", "stamina", "gym",
            "sprint", "yoga", "stretching", "athlete", "treadmill", "conditioning",
            "pilates", "weightlifting", "squats", "jogging", "triathlon", "coach",
            "exercise", "running", "cycling", "strength", "training", "aerobics", "abs",
            "pushups", "dumbbells", "kettlebell", "burpees", "lunges", "calisthenics", "rowing",
            "protein", "flexibility", "trainer", "barbell", "plank", "hamstrings", "warmup",
        ],
        "tags": [
            "health", "sport", "wellness", "get fit", "personal best", "bodybuilding",
            "home workouts", "couch to 5k", "athletics", "physical training", "sweat",
            "active living", "crossfit", "fat loss", "running club", "mobility", "sports science",
            "team sports",
        ],
    },
    "finance": {
        "words": [
            "investing", "stocks", "portfolio", "dividends", "budgeting", "savings",
            "retirement", "wealth", "bonds", "market", "interest", "frugal", "mortgage",
            "taxes", "income", "money", "banking", "pension", "equity", "debt",
            "inflation", "capital", "fortune", "millionaire", "profit", "loans",
            "shares", "assets", "credit", "ledger", "audit", "bankruptcy", "stockbroker",
            "annuity", "liquidity", "valuation", "treasury", "earnings", "recession",
            "bookkeeping",
        ],
        "tags": [
            "economics", "personal finance", "business", "financial freedom", "side hustle",
            "trading", "wall street", "accounting", "early retirement", "fintech",
            "household budget", "entrepreneurship", "real estate", "get rich", "asset management",
            "the economy", "crypto", "cash flow",
        ],
    },
    "ocean": {
        "words": [
            "sailor", "voyage", "ship", "harbor", "tide", "ocean", "lighthouse", "captain",
            "anchor", "reef", "mariner", "waves", "seafaring", "nautical", "schooner",
            "shipwreck", "island", "pirates", "navy", "fishermen", "whale", "coast",
            "sails", "storm", "seas", "dolphins",
            "seagull", "galleon", "deckhand", "buoy", "keel", "mast", "oars", "lagoon", "coral",
            "sharks", "seaweed", "pier", "helmsman", "estuary",
        ],
        "tags": [
            "the sea", "maritime", "sailing", "seafarers", "coastal life", "naval history",
            "marine life", "tall ships", "deep blue", "salt water", "seaside", "beachcombing",
            "surf", "high seas", "boats", "sea shanties", "scuba", "lifeboats",
        ],
    },
    "history": {
        "words": [
            "empire", "battle", "medieval", "king", "conquest", "dynasty", "ancient",
            "siege", "legion", "knights", "revolution", "throne", "crusade", "pharaoh",
            "centurion", "emperor", "rome", "vikings", "castle", "war", "samurai",
            "kingdom", "soldiers", "archaeology", "monarchy", "civilization",
            "feudal", "gladiator", "parliament", "renaissance", "aristocracy", "tsar",
            "invasion", "treaty", "colonial", "barbarians", "armada", "manuscripts",
            "artifacts", "sultan",
        ],
        "tags": [
            "historical", "past times", "antiquity", "military history", "the middle ages",
            "classical world", "heritage", "old world", "bygone eras", "chronicles",
            "great leaders", "archives", "warfare", "lost civilisations", "royalty",
            "the twentieth century", "historical fiction", "epochs",
        ],
    },
    "programming": {
        "words": [
            "software", "code", "algorithm", "python", "developer", "compiler",
            "debugging", "database", "programming", "startup", "hacker", "server",
            "computer", "internet", "robots", "encryption", "javascript", "linux",
            "network", "data", "engineering", "automation", "cloud", "app", "silicon",
            "cybersecurity",
            "repository", "terminal", "keyboard", "laptop", "firmware", "kernel", "framework",
            "bytecode", "microchip", "bandwidth", "backend", "scripting", "binary", "processor",
        ],
        "tags": [
            "technology", "computing", "coding", "tech industry", "geeks", "open source",
            "computer science", "devops", "hackathons", "machine learning", "web dev", "gadgets",
            "the digital age", "it careers", "silicon valley", "tinkering", "systems design",
            "artificial intelligence",
        ],
    },
    "horror": {
        "words": [
            "ghost", "haunted", "nightmare", "creepy", "monster", "vampire", "zombie",
            "curse", "demon", "graveyard", "terror", "sinister", "dread", "poltergeist",
            "occult", "werewolf", "witch", "skeleton", "blood", "fear", "scream",
            "shadows", "crypt", "possessed", "spirits", "darkness",
            "ghoul", "banshee", "exorcism", "coffin", "phantom", "wraith", "asylum", "cemetery",
            "seance", "fright", "specter", "gargoyle", "cobwebs", "undertaker",
        ],
        "tags": [
            "scary", "supernatural", "gothic", "paranormal", "chilling", "spine-tingling",
            "the undead", "things that go bump", "slasher", "haunting", "macabre", "eerie",
            "creature feature", "dark fiction", "halloween", "ghost stories", "folk horror",
            "body horror",
        ],
    },
    "pets": {
        "words": [
            "puppy", "kitten", "dog", "cat", "veterinarian", "pet", "leash", "obedience",
            "paw", "feline", "canine", "shelter", "grooming", "companion", "hamster",
            "parrot", "terrier", "retriever", "kennel", "whiskers", "aquarium", "pony",
            "rabbit", "adoption", "breeds", "tail",
            "goldfish", "budgie", "tortoise", "ferret", "collar", "kibble", "fetch", "spaniel",
            "labrador", "tabby", "purring", "doghouse", "hutch", "birdcage",
        ],
        "tags": [
            "animals", "pet care", "dogs", "cats", "furry friends", "animal lovers", "pet owners",
            "four-legged", "dog training", "rescue animals", "animal welfare", "vets", "pet health",
            "critters", "best friends", "fur babies", "animal behaviour", "small pets",
        ],
    },
    "travel": {
        "words": [
            "backpacking", "itinerary", "passport", "journey", "destination", "wanderlust",
            "roadtrip", "hostel", "sightseeing", "vacation", "tourist", "expedition",
            "abroad", "luggage", "airport", "beaches", "mountains", "explorer",
            "holiday", "cities", "maps", "trek", "safari", "cruise", "hiking", "nomad",
            "suitcase", "postcard", "souvenir", "boarding", "jetlag", "motel", "resort",
            "guidebook", "railway", "layover", "visa", "campervan", "excursion", "landmarks",
        ],
        "tags": [
            "tourism", "travel guides", "exploration", "culture", "globetrotting", "road trips",
            "travel writing", "off the beaten path", "adventure travel", "budget travel",
            "city breaks", "around the world", "local customs", "gap year", "travelogue",
            "far-flung places", "getaways", "wanderers",
        ],
    },
    "mindfulness": {
        "words": [
            "meditation", "calm", "mindfulness", "breathing", "serenity", "peace",
            "stress", "tranquility", "zen", "awareness", "relaxation", "gratitude",
            "stillness", "anxiety", "happiness", "healing", "balance", "sleep", "soul",
            "wisdom", "compassion", "kindness", "retreat", "spiritual", "harmony",
            "presence",
            "mantra", "chakra", "affirmations", "journaling", "reflection", "equanimity",
            "acceptance", "breathwork", "solitude", "contentment", "forgiveness", "intention",
            "lotus", "introspection",
        ],
        "tags": [
            "self help", "wellbeing", "spirituality", "mental health", "inner peace", "self care",
            "personal growth", "positive psychology", "slow living", "burnout", "contemplation",
            "emotional health", "finding yourself", "mind and body", "quiet mind", "buddhism",
            "resilience", "letting go",
        ],
    },
    "fantasy": {
        "words": [
            "dragon", "wizard", "sorcery", "quest", "enchanted", "elf", "magic", "fairy",
            "spell", "prophecy", "sword", "realm", "sorceress", "unicorn", "goblin",
            "dwarves", "kingdom", "potion", "witchcraft", "legend", "myth", "oracle",
            "amulet", "giants", "wand", "troll",
            "griffin", "necromancer", "runes", "enchantress", "ogre", "phoenix", "spellbook",
            "centaur", "mage", "sorcerer", "paladin", "portal", "pixie", "warlock",
        ],
        "tags": [
            "arcane arts", "epic", "sword and sorcery", "mythology", "high fantasy", "fairy tales",
            "dragons", "otherworldly", "folklore", "chosen one", "magical creatures",
            "spellcasting", "grimdark", "heroic quests", "sagas", "fae", "myths and legends",
            "enchantment",
        ],
    },
}

#: Words that appear in every theme, so titles do not reveal themes by form.
GENERIC_TITLE_WORDS = [
    "Secret", "Last", "Hidden", "Silent", "Lost", "First", "Golden", "Little",
    "Endless", "Broken", "Midnight", "Wild", "Quiet", "Great", "Forgotten", "Bright",
]
#: Tags any item may carry, whatever its theme (noise for a theme classifier).
GENERIC_TAGS = [
    "bestseller", "classic", "award winner", "beginner friendly", "staff pick", "illustrated",
    "short read", "debut", "translated", "book club", "critically acclaimed", "cult favourite",
]
FORMATS = ["novel", "guide", "podcast", "documentary", "course", "memoir", "anthology", "film"]
CHARACTERS = ["a young woman", "an old man", "two friends", "a stubborn teenager", "a retired teacher",
              "a lonely widow", "a curious boy", "a family", "an unlikely hero", "a small town"]

TITLE_TEMPLATES = [
    "The {G} {W1}",
    "{W1} and {W2}",
    "The {W1} of the {W2}",
    "{G} {W1}",
    "A {W1} Story",
    "Beyond the {W1}",
    "{W1}: The {G} {W2}",
]

SENTENCE_TEMPLATES = [
    "A {adj} {fmt} about {w1} and {w2}.",
    "{Char} is drawn into a world of {w1}, {w2} and {w3}.",
    "Perfect for anyone curious about {w1}.",
    "It explores {w1} through the eyes of {char}.",
    "Chapters cover {w1}, {w2} and the {w3}.",
    "When {char} discovers the {w1}, nothing stays the same.",
    "Told with warmth, it lingers on {w1} and {w2}.",
    "Critics praised its take on {w1}.",
]
ADJECTIVES = ["gripping", "gentle", "witty", "moving", "thoughtful", "fast-paced", "lyrical", "practical"]

#: Recurring figures of series (a first name and a surname, drawn without
#: replacement, so two series never share a name).
FIRST_NAMES = [
    "Mara", "Theo", "Ines", "Felix", "Nadia", "Oskar", "Lena", "Rafael", "Greta", "Tomas",
    "Elif", "Jonah", "Priya", "Milo", "Saskia", "Caspar", "Yara", "Anton", "Delphine", "Bram",
]
SURNAMES = [
    "Quill", "Ashdown", "Varga", "Holloway", "Brandt", "Okafor", "Lindqvist", "Marchetti",
    "Pembrook", "Sato", "Rennick", "Duval", "Castellan", "Whitlock", "Novak", "Ferreira",
    "Blackwood", "Ishikawa", "Thorne", "Galloway",
]
ORDINALS = ["first", "second", "third", "fourth", "fifth"]
ROMAN = ["I", "II", "III", "IV", "V"]
#: Title templates of a series part; {N} is the recurring figure's name.
SERIES_TITLE_TEMPLATES = [
    "{N} and the {W1}",
    "{N}: {G} {W1}",
    "The {W1} of {N}",
]
#: A title may end with one of these on a later part ({R}: roman numeral).
SEQUEL_TITLE_SUFFIXES = [" {R}", ": Part {R}", " Returns", ", Again", ": The Sequel"]
#: The sentence of a series' first part that introduces its figure.
SERIES_FIRST_SENTENCES = [
    "Meet {N} for the first time.",
    "It introduces {N}.",
    "{N}'s story starts here.",
    "The opening {fmt} about {N}.",
]
#: The sentence of a later part that links it to the earlier ones ({ord}: "second", ...).
SERIES_SEQUEL_SENTENCES = [
    "{N} returns.",
    "The {ord} outing for {N}.",
    "It picks up where {N}'s last {fmt} left off.",
    "Continues the story of {N}.",
    "A follow-up: {N} is back.",
    "Once again with {N}, {ord} in the sequence.",
]
