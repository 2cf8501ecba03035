"""The order-independent draws: the vectorised paths give exactly the scalar hash."""

from __future__ import annotations

from broadcaster_simulator.draws import WordBlocks, field16, stream_id, threshold16, word, words
from hypothesis import given, settings
from hypothesis import strategies as st

keys = st.integers(0, 2**64 - 1)
indexes = st.integers(0, 2**40)


def test_word_is_splitmix64_of_the_index():
    # SplitMix64 seeded with 0: its first outputs are the finaliser of 1, 2, 3 x gamma
    assert [word(0, 0, i) for i in range(3)] == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]


@settings(max_examples=50)
@given(key=keys, name=st.text(max_size=8), picked=st.lists(indexes, max_size=40))
def test_words_of_a_list_are_the_scalar_words(key, name, picked):
    stream = stream_id(name)
    assert words(key, stream, picked) == [word(key, stream, i) for i in picked]


@settings(max_examples=30)
@given(key=keys, start=st.integers(0, 2**40), length=st.integers(0, 3000))
def test_words_of_a_range_are_the_scalar_words(key, start, length):
    span = range(start, start + length)
    assert words(key, 7, span) == [word(key, 7, i) for i in span]


@settings(max_examples=30)
@given(key=keys, asked=st.lists(indexes | st.integers(0, 5000), min_size=1, max_size=60))
def test_word_blocks_answer_any_order_with_the_scalar_words(key, asked):
    blocks = WordBlocks(key, 11)
    assert [blocks[i] for i in asked] == [word(key, 11, i) for i in asked]
    assert len(blocks.blocks) <= WordBlocks.KEPT


def test_word_blocks_keep_only_the_last_few_blocks():
    blocks = WordBlocks(1, 2)
    size = 1 << WordBlocks.SHIFT
    for number in range(10):
        assert blocks[number * size + 5] == word(1, 2, number * size + 5)
    assert sorted(blocks.blocks) == list(range(10 - WordBlocks.KEPT, 10))


def test_a_share_is_met_to_within_sampling_error():
    hits = sum(field16(w, 2) < threshold16(0.25) for w in words(99, stream_id("share"), range(40_000)))
    assert abs(hits / 40_000 - 0.25) < 0.01
