"""The partitioned (approximate) retrieval index: its partitions, and the exported
model's retrieval with it against exact retrieval, on the shared pipeline's model."""
import dataclasses
import tempfile

import numpy as np
import pytest


def test_partitions_cover_every_item_once_and_no_piece_is_over_twice_the_mean():
    from trainer.partitioned_index import build

    rng = np.random.RandomState(0)
    # Lopsided clusters: one holds half the items.
    centres = rng.normal(size=(8, 16))
    labels = np.where(rng.uniform(size=2000) < 0.5, 0, rng.randint(1, 8, size=2000))
    embeddings = centres[labels] + 0.1 * rng.normal(size=(2000, 16))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    centroids, members = build(embeddings, rng.normal(size=2000), 0.05, partitions=8)
    rows = members[members >= 0]
    assert sorted(rows.tolist()) == list(range(2000))
    assert members.shape[1] <= 2 * 2000 / 8
    assert centroids.shape == (len(members), 17)
    assert len(members) > 8  # the big cluster was cut into pieces


@pytest.fixture(scope="module")
def servers(pipeline_run):
    """(exact server, {probe: partitioned server}, catalogue ids) rebuilt from the pushed model."""
    import tensorflow_transform as tft

    from bertrec.config import Config
    from trainer import catalogue_kit, catalogue_refresh

    source = pipeline_run[2].stdout.strip().splitlines()[-1]
    kit = catalogue_kit.read(source)
    config = Config.from_dict(kit.config, source="kit")
    stored = catalogue_refresh.stored_catalogue(source)
    model = catalogue_refresh.new_model(kit, config)
    terms, ranker, _ = catalogue_refresh.restore(model, kit, source, config)
    catalogue = {name: kit.catalogue[name] for name in catalogue_kit.COLUMNS}
    catalogue.update(embeddings=stored["item_embeddings"], priors=stored["item_priors"],
                     history_embeddings=stored["item_history_embeddings"],
                     available=np.arange(len(catalogue["ids"])) != 3)  # item 3 unavailable
    with tempfile.TemporaryDirectory() as directory:
        layer = tft.TFTransformOutput(kit.extract_transform(directory)).transform_features_layer()

        def server(available=catalogue["available"], **serve):
            # Histories of at most 50 items: the probe count then leaves partitions out of 240 items.
            cfg = dataclasses.replace(config, serve=dataclasses.replace(config.serve, **serve),
                                      data=dataclasses.replace(config.data, max_history_items=50))
            return catalogue_refresh.rebuild_server(model, layer, {**catalogue, "available": available}, cfg, terms,
                                                    ranker, 0)

        partitioned = {probe: server(index="partitioned", index_probe=probe, index_partitions=12)
                       for probe in (1, 1000)}
        few = np.zeros(len(catalogue["ids"]), bool)
        few[:30] = True  # fewer available items than retrieve_k
        scarce = {index: server(available=few, index=index, index_partitions=12) for index in ("exact", "partitioned")}
        yield server(index="exact"), partitioned, scarce, [i.decode() for i in catalogue["ids"]]


def _retrieve(server, histories):
    import tensorflow as tf

    out = server.retrieve(tf.constant(["u"] * len(histories)), tf.constant(histories))
    return [[i.decode() for i in row] for row in out["item_ids"].numpy()], out["scores"].numpy()


def test_probing_every_partition_retrieves_exactly_what_exact_search_does(servers):
    exact, partitioned, _, ids = servers
    rng = np.random.RandomState(1)
    histories = [" ".join(rng.choice(ids, 3, replace=False)) for _ in range(20)]
    exact_ids, exact_scores = _retrieve(exact, histories)
    all_ids, all_scores = _retrieve(partitioned[1000], histories)
    assert all_ids == exact_ids
    np.testing.assert_allclose(all_scores, exact_scores, rtol=1e-5, atol=1e-5)


def test_fewest_probes_score_a_part_of_the_catalogue_exactly_and_keep_the_exclusions(servers):
    exact, partitioned, _, ids = servers
    few = partitioned[1]
    # The probe count grows to fill a list past a long history, yet stays below every partition.
    assert int(few.index_probe.numpy()) < len(few.index_members.numpy())
    rng = np.random.RandomState(2)
    histories = [" ".join(rng.choice(ids, 3, replace=False)) for _ in range(40)]
    exact_ids, exact_scores = _retrieve(exact, histories)
    some_ids, some_scores = _retrieve(few, histories)
    recall = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact_ids, some_ids)])
    assert recall > 0.5
    for history, row, scores, exact_row, exact_row_scores in zip(histories, some_ids, some_scores, exact_ids,
                                                                  exact_scores):
        assert not set(history.split()) & set(row) and ids[3] not in row
        assert np.all(np.diff(scores) <= 0)
        # An item both find has the same score: only which items are scored differs.
        exact_score = dict(zip(exact_row, exact_row_scores))
        np.testing.assert_allclose([s for i, s in zip(row, scores) if i in exact_score],
                                   [exact_score[i] for i in row if i in exact_score], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("index", ["exact", "partitioned"])
def test_with_fewer_available_items_than_asked_for_the_rest_are_empty_slots(servers, index):
    import tensorflow as tf

    _, _, scarce, ids = servers
    model = scarce[index]
    history = " ".join(ids[:2])
    for signature in (model.retrieve, model.serve):
        out = signature(tf.constant(["u"]), tf.constant([history]))
        row = [i.decode() for i in out["item_ids"].numpy()[0]]
        real = [i for i in row if i]
        assert set(real) <= set(ids[2:30]) and len(real) == len(set(real))
        assert all(i == "" for i in row[len(real):])  # the empty slots come last, with score 0
        assert np.all(out["scores"].numpy()[0][len(real):] == 0.0)
    if index == "exact":
        assert len(real) == 10  # 28 can be recommended
