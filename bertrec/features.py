"""Feature names and shapes, defined once for data preparation, the Transform,
the model, the exported signatures and the client.

Raw example (one per interaction, what ExampleGen ingests)::

    user_id            bytes   the user
    history_item_ids   bytes   ids of the user's most recent earlier items, most recent first,
                               joined by HISTORY_ID_SEPARATOR
    history_text       bytes   those items' short texts (titles) in the same order, joined by
                               HISTORY_TEXT_SEPARATOR
    item_id            bytes   the item interacted with (retrieval target)
    item_title         bytes
    item_description   bytes
    item_tags          bytes   tags joined by TAG_SEPARATOR
    rating             float   the user's rating (ranking label)
    timestamp          int64   seconds

The catalogue split has the same features; its user-side fields are empty, its
rating is 0 and its timestamp is the item's release time (UNKNOWN_RELEASE when
unknown): catalogue rows are items, not interactions.
"""

USER_ID = "user_id"
HISTORY_ITEM_IDS = "history_item_ids"
HISTORY_TEXT = "history_text"
ITEM_ID = "item_id"
ITEM_TITLE = "item_title"
ITEM_DESCRIPTION = "item_description"
ITEM_TAGS = "item_tags"
RATING = "rating"
TIMESTAMP = "timestamp"

STRING_FEATURES = (
    USER_ID,
    HISTORY_ITEM_IDS,
    HISTORY_TEXT,
    ITEM_ID,
    ITEM_TITLE,
    ITEM_DESCRIPTION,
    ITEM_TAGS,
)
FLOAT_FEATURES = (RATING,)
INT_FEATURES = (TIMESTAMP,)
RAW_FEATURES = STRING_FEATURES + FLOAT_FEATURES + INT_FEATURES

#: What a client sends: the user and the ids of what they did, most recent first.
SERVING_INPUTS = (USER_ID, HISTORY_ITEM_IDS)

# The exported model's signatures (see trainer/export.py) and their extra names.
SIGNATURE_DEFAULT = "serving_default"
SIGNATURE_RETRIEVE = "retrieve"
SIGNATURE_RANK = "rank"
SIGNATURE_EVALUATE = "evaluate"
CANDIDATE_IDS = "candidate_ids"  # rank's input: string[B, C]
OUT_ITEM_IDS = "item_ids"
OUT_TITLES = "titles"
OUT_SCORES = "scores"
# Per-example outputs of the evaluate signature (TFMA averages them).
EVAL_RETRIEVAL_HIT = "retrieval_hit"
EVAL_RANKED_HIT = "ranked_hit"
EVAL_RANKED_NDCG = "ranked_ndcg"
EVAL_RANKED_RECIPROCAL_RANK = "ranked_reciprocal_rank"

#: A catalogue row's timestamp when the item's release time is unknown (any
#: other value, 0 and pre-1970 times included, is a real release time).
UNKNOWN_RELEASE = -(2**63)

HISTORY_ID_SEPARATOR = " "
HISTORY_TEXT_SEPARATOR = " ; "
TAG_SEPARATOR = "|"

# Transformed features (outputs of preprocessing_fn).
QUERY_TOKENS = "query_tokens"
ITEM_TOKENS = "item_tokens"
USER_INDEX = "user_index"
ITEM_INDEX = "item_index"
ITEM_KEY = "item_key"  # the raw item id, passed through for the catalogue index
ITEM_SHORT_TEXT = "item_short_text"  # what an item contributes to a history (its title)

# Transform vocabulary names (files inside the transform graph).
USER_VOCAB = "user_id_vocab"
ITEM_VOCAB = "item_id_vocab"

# Split names written by data preparation and read by the pipeline.
# ``validation`` is carved out of the training data (tuning, early stopping,
# score-term fits); ``eval`` is the test split, read only by the Evaluator gate
# and the final report.
TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"
EVAL_SPLIT = "eval"
CATALOGUE_SPLIT = "catalogue"
SPLITS = (TRAIN_SPLIT, VALIDATION_SPLIT, EVAL_SPLIT, CATALOGUE_SPLIT)
#: The interaction splits whose interactions an example of each split may see
#: as its history: never its own split's (nor any later split's) pairs.
CONTEXT_SPLITS = {
    TRAIN_SPLIT: (TRAIN_SPLIT,),
    VALIDATION_SPLIT: (TRAIN_SPLIT,),
    EVAL_SPLIT: (TRAIN_SPLIT, VALIDATION_SPLIT),
}


def join_history_text(titles) -> str:
    """History text from item titles, most recent first.

    The exported model rebuilds history text from item ids with the same rule
    (``tf.strings.reduce_join`` with HISTORY_TEXT_SEPARATOR over catalogue
    titles), so this is the one definition both sides follow.
    """
    return HISTORY_TEXT_SEPARATOR.join(titles)
