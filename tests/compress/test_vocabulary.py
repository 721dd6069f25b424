"""Vocabulary trimming keeps tokenization and embedding rows of everything it keeps."""

from __future__ import annotations

import json

import pytest
import torch

from mobilekit.compress.folders import load_model, load_tokenizer, save_model_folder
from mobilekit.compress.vocabulary import choose_tokens, tokenization_changes, trim_embeddings, write_trimmed_tokenizer
from tests.tiny_models import make_trained_tiny_classifier

CORPUS = ["the movie was good", "the plot was boring", "i love this film", "really great acting", "playing"]
IN_VOCABULARY = ["the film was good", "great movie", "boring acting was boring", "i love playing this"]


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory):
    root = tmp_path_factory.mktemp("trim")
    original_dir = make_trained_tiny_classifier(root / "original", steps=20)
    tokenizer = load_tokenizer(original_dir)
    model = load_model(original_dir, "text-classification")
    original_embeddings = model.get_input_embeddings().weight.detach().clone()
    choice = choose_tokens(tokenizer, CORPUS)
    out = root / "trimmed"
    write_trimmed_tokenizer(original_dir, tokenizer, choice, out)
    trim_embeddings(model, choice)
    save_model_folder(model, out, tokenizer_from=original_dir, task="text-classification", copy_tokenizer=False)
    return {"dir": out, "original_dir": original_dir, "choice": choice, "tokenizer": tokenizer,
            "original_embeddings": original_embeddings}


def test_keeps_corpus_tokens_single_characters_and_specials_only(trimmed):
    vocab = trimmed["tokenizer"].get_vocab()
    kept = {token for token, i in vocab.items() if i in set(trimmed["choice"].kept_ids)}
    assert {"movie", "boring", "love", "play", "##ing", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"} <= kept
    assert {"a", "##a", "z", "##z", "中", "."} <= kept
    assert not {"awful", "worst", "cafe", "music"} & kept
    assert len(kept) < len(vocab)


def test_in_vocabulary_text_tokenizes_identically_and_rows_match(trimmed):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    original = trimmed["tokenizer"]
    new = AutoTokenizer.from_pretrained(trimmed["dir"])  # the folder is a normal Hugging Face folder
    model = AutoModelForSequenceClassification.from_pretrained(trimmed["dir"])
    for text in IN_VOCABULARY + CORPUS:
        before, after = original(text)["input_ids"], new(text)["input_ids"]
        assert original.convert_ids_to_tokens(before) == new.convert_ids_to_tokens(after), text
    old_vocab, new_vocab = original.get_vocab(), new.get_vocab()
    rows = model.get_input_embeddings().weight.detach()
    assert rows.shape[0] == len(new_vocab) == model.config.vocab_size
    for token, new_id in new_vocab.items():
        assert torch.equal(rows[new_id], trimmed["original_embeddings"][old_vocab[token]]), token
    # Same tokens, same rows, same other weights: the same logits.
    teacher = AutoModelForSequenceClassification.from_pretrained(trimmed["original_dir"])
    with torch.no_grad():
        a = teacher(**original(IN_VOCABULARY, padding=True, return_tensors="pt")).logits
        b = model(**new(IN_VOCABULARY, padding=True, return_tensors="pt")).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_files_agree_with_each_other(trimmed):
    folder = trimmed["dir"]
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    assert spec["model"]["vocab"] == {token: i for i, token in enumerate(lines)}
    assert {a["content"]: a["id"] for a in spec["added_tokens"]} == {t: lines.index(t) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]}
    specials = spec["post_processor"]["special_tokens"]
    assert specials["[CLS]"]["ids"] == [lines.index("[CLS]")] and specials["[SEP]"]["ids"] == [lines.index("[SEP]")]
    config = json.loads((folder / "config.json").read_text())
    assert config["vocab_size"] == len(lines) and config["pad_token_id"] == lines.index("[PAD]")


def test_out_of_vocabulary_words_fall_back_to_smaller_pieces_and_are_counted(trimmed):
    from transformers import AutoTokenizer

    new = AutoTokenizer.from_pretrained(trimmed["dir"])
    assert new.tokenize("awful movie") == ["a", "##w", "##f", "##u", "##l", "movie"]
    changes = tokenization_changes(trimmed["tokenizer"], new, ["awful movie", "good movie", "worst cafe ever"])
    assert changes["texts_tokenized_differently"] == 2
    assert changes["tokens_per_text_after"] > changes["tokens_per_text_before"]


def test_min_count_drops_rare_corpus_tokens(trimmed):
    rare = choose_tokens(trimmed["tokenizer"], CORPUS, min_count=2)
    vocab = trimmed["tokenizer"].get_vocab()
    assert vocab["the"] in rare.kept_ids and vocab["was"] in rare.kept_ids  # twice in the corpus
    assert vocab["movie"] not in rare.kept_ids and vocab["[CLS]"] in rare.kept_ids


def test_dropped_words_are_the_whole_words_trimming_removed(trimmed):
    from mobilekit.compress.vocabulary import dropped_words

    words = dropped_words(trimmed["tokenizer"], trimmed["choice"])
    assert {"awful", "worst", "music"} <= set(words)
    kept = {t for t, i in trimmed["tokenizer"].get_vocab().items() if i in set(trimmed["choice"].kept_ids)}
    assert not set(words) & kept
    assert all(w.isalpha() and len(w) > 1 and not w.startswith("##") for w in words)
    # The trimmed tokenizer still spells each of them, from smaller pieces and never as [UNK].
    spelled = load_tokenizer(trimmed["dir"])(words, add_special_tokens=False)["input_ids"]
    unk = load_tokenizer(trimmed["dir"]).unk_token_id
    assert all(len(ids) > 1 and unk not in ids for ids in spelled)


def test_word_pooling_lines_up_the_words_of_both_tokenizations(trimmed):
    import torch

    from mobilekit.compress.batches import word_pooling
    from mobilekit.compress.distill import word_state_loss

    texts = ["the music was awful", "worst plot", "good"]
    original, cut = trimmed["tokenizer"], load_tokenizer(trimmed["dir"])
    before = original(texts, padding="longest", return_tensors="pt")
    after = cut(texts, padding="longest", return_tensors="pt")
    assert after["input_ids"].shape[1] > before["input_ids"].shape[1]  # dropped words now take more pieces
    (p_before, words_before), (p_after, words_after) = word_pooling(before), word_pooling(after)
    assert words_before.tolist() == words_after.tolist() == [4, 2, 1]
    for pooling, words in ((p_before, words_before), (p_after, words_after)):
        sums = pooling.sum(-1)
        for b, n in enumerate(words.tolist()):
            assert torch.allclose(sums[b, :n], torch.ones(n)) and sums[b, n:].eq(0).all()
    # States that agree word by word give no loss, however differently the words were cut.
    word_states = torch.randn(3, 4, 8, generator=torch.Generator().manual_seed(0))
    spread = lambda pooling: (pooling.transpose(1, 2) > 0).float() @ word_states  # every piece carries its word's state
    student = [spread(p_after), spread(p_after)]
    teacher = [spread(p_before), spread(p_before)]
    assert float(word_state_loss(student, teacher, [0], (p_after, words_after), (p_before, words_before))) < 1e-10
    assert float(word_state_loss([s * 2 for s in student], teacher, [0], (p_after, words_after), (p_before, words_before))) > 0
