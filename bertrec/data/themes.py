"""Vocabulary of the built-in catalogue: themes described by many near-synonyms.

Items of one theme draw a few words each from a large pool, so two items a user
would both like usually share few exact words; a model has to know that
"nebula", "starship" and "cosmos" belong together. Some words sit in two pools
on purpose ("voyage", "kingdom", "market"), as real catalogues are ambiguous.
"""

THEMES = {
    "space": {
        "words": [
            "astronaut", "galaxy", "orbit", "cosmos", "starship", "nebula", "rocket",
            "interstellar", "lunar", "planet", "comet", "asteroid", "telescope",
            "spacecraft", "celestial", "supernova", "mars", "satellite", "gravity",
            "meteor", "solar", "eclipse", "voyage", "moon", "constellation", "cosmonaut",
        ],
        "tags": ["science fiction", "astronomy", "space travel", "cosmos", "aliens"],
    },
    "cooking": {
        "words": [
            "recipe", "kitchen", "chef", "baking", "pastry", "spice", "simmer", "skillet",
            "cuisine", "flavor", "dough", "roast", "seasoning", "oven", "braise", "sauce",
            "dessert", "ingredients", "culinary", "feast", "broth", "grill", "bread",
            "soup", "noodles", "supper",
        ],
        "tags": ["food", "recipes", "home cooking", "baking", "gastronomy"],
    },
    "gardening": {
        "words": [
            "garden", "seedling", "compost", "bloom", "orchard", "soil", "perennial",
            "pruning", "greenhouse", "harvest", "blossom", "mulch", "shrub", "botanical",
            "sprout", "trowel", "flowerbed", "herbs", "roses", "tulips", "vegetables",
            "hedge", "meadow", "seeds", "fern", "lawn",
        ],
        "tags": ["plants", "horticulture", "outdoors", "flowers", "growing"],
    },
    "detective": {
        "words": [
            "detective", "murder", "clue", "suspect", "investigation", "alibi",
            "homicide", "sleuth", "forensic", "inspector", "culprit", "interrogation",
            "motive", "whodunit", "precinct", "witness", "fingerprints", "autopsy",
            "crime", "evidence", "killer", "mystery", "police", "confession", "heist",
            "gangster",
        ],
        "tags": ["mystery", "thriller", "crime fiction", "noir", "suspense"],
    },
    "romance": {
        "words": [
            "love", "heart", "romance", "sweetheart", "wedding", "passion", "courtship",
            "kiss", "beloved", "affection", "longing", "soulmate", "tender", "devotion",
            "flirtation", "honeymoon", "bride", "darling", "embrace", "valentine",
            "engagement", "lovers", "desire", "crush", "date", "proposal",
        ],
        "tags": ["love story", "relationships", "feel good", "romantic", "drama"],
    },
    "jazz": {
        "words": [
            "saxophone", "improvisation", "swing", "trumpet", "bebop", "melody", "rhythm",
            "quartet", "blues", "groove", "piano", "bassline", "syncopation", "nightclub",
            "bandleader", "chord", "trombone", "drummer", "harmony", "solo", "ballad",
            "orchestra", "tempo", "clarinet", "vinyl", "gig",
        ],
        "tags": ["music", "jazz", "musicians", "live music", "songs"],
    },
    "fitness": {
        "words": [
            "workout", "cardio", "muscle", "endurance", "marathon", "stamina", "gym",
            "sprint", "yoga", "stretching", "athlete", "treadmill", "conditioning",
            "pilates", "weightlifting", "squats", "jogging", "triathlon", "coach",
            "exercise", "running", "cycling", "strength", "training", "aerobics", "abs",
        ],
        "tags": ["health", "sport", "exercise", "wellness", "training"],
    },
    "finance": {
        "words": [
            "investing", "stocks", "portfolio", "dividends", "budgeting", "savings",
            "retirement", "wealth", "bonds", "market", "interest", "frugal", "mortgage",
            "taxes", "income", "money", "banking", "pension", "equity", "debt",
            "inflation", "capital", "fortune", "millionaire", "profit", "loans",
        ],
        "tags": ["money", "economics", "personal finance", "business", "investing"],
    },
    "ocean": {
        "words": [
            "sailor", "voyage", "ship", "harbor", "tide", "ocean", "lighthouse", "captain",
            "anchor", "reef", "mariner", "waves", "seafaring", "nautical", "schooner",
            "shipwreck", "island", "pirates", "navy", "fishermen", "whale", "coast",
            "sails", "storm", "seas", "dolphins",
        ],
        "tags": ["sea", "sailing", "maritime", "adventure", "nautical"],
    },
    "history": {
        "words": [
            "empire", "battle", "medieval", "king", "conquest", "dynasty", "ancient",
            "siege", "legion", "knights", "revolution", "throne", "crusade", "pharaoh",
            "centurion", "emperor", "rome", "vikings", "castle", "war", "samurai",
            "kingdom", "soldiers", "archaeology", "monarchy", "civilization",
        ],
        "tags": ["history", "historical", "war", "biography", "nonfiction"],
    },
    "programming": {
        "words": [
            "software", "code", "algorithm", "python", "developer", "compiler",
            "debugging", "database", "programming", "startup", "hacker", "server",
            "computer", "internet", "robots", "encryption", "javascript", "linux",
            "network", "data", "engineering", "automation", "cloud", "app", "silicon",
            "cybersecurity",
        ],
        "tags": ["technology", "computing", "software", "coding", "engineering"],
    },
    "horror": {
        "words": [
            "ghost", "haunted", "nightmare", "creepy", "monster", "vampire", "zombie",
            "curse", "demon", "graveyard", "terror", "sinister", "dread", "poltergeist",
            "occult", "werewolf", "witch", "skeleton", "blood", "fear", "scream",
            "shadows", "crypt", "possessed", "spirits", "darkness",
        ],
        "tags": ["horror", "scary", "supernatural", "gothic", "paranormal"],
    },
    "pets": {
        "words": [
            "puppy", "kitten", "dog", "cat", "veterinarian", "pet", "leash", "obedience",
            "paw", "feline", "canine", "shelter", "grooming", "companion", "hamster",
            "parrot", "terrier", "retriever", "kennel", "whiskers", "aquarium", "pony",
            "rabbit", "adoption", "breeds", "tail",
        ],
        "tags": ["animals", "pets", "pet care", "dogs", "cats"],
    },
    "travel": {
        "words": [
            "backpacking", "itinerary", "passport", "journey", "destination", "wanderlust",
            "roadtrip", "hostel", "sightseeing", "vacation", "tourist", "expedition",
            "abroad", "luggage", "airport", "beaches", "mountains", "explorer",
            "holiday", "cities", "maps", "trek", "safari", "cruise", "hiking", "nomad",
        ],
        "tags": ["travel", "tourism", "guides", "exploration", "culture"],
    },
    "mindfulness": {
        "words": [
            "meditation", "calm", "mindfulness", "breathing", "serenity", "peace",
            "stress", "tranquility", "zen", "awareness", "relaxation", "gratitude",
            "stillness", "anxiety", "happiness", "healing", "balance", "sleep", "soul",
            "wisdom", "compassion", "kindness", "retreat", "spiritual", "harmony",
            "presence",
        ],
        "tags": ["self help", "wellbeing", "spirituality", "mental health", "meditation"],
    },
    "fantasy": {
        "words": [
            "dragon", "wizard", "sorcery", "quest", "enchanted", "elf", "magic", "fairy",
            "spell", "prophecy", "sword", "realm", "sorceress", "unicorn", "goblin",
            "dwarves", "kingdom", "potion", "witchcraft", "legend", "myth", "oracle",
            "amulet", "giants", "wand", "troll",
        ],
        "tags": ["fantasy", "magic", "epic", "adventure", "mythology"],
    },
}

#: Words that appear in every theme, so titles do not reveal themes by form.
GENERIC_TITLE_WORDS = [
    "Secret", "Last", "Hidden", "Silent", "Lost", "First", "Golden", "Little",
    "Endless", "Broken", "Midnight", "Wild", "Quiet", "Great", "Forgotten", "Bright",
]
GENERIC_TAGS = ["bestseller", "classic", "award winner", "new release", "beginner friendly", "series"]
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
