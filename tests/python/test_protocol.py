"""examples/python/mir_protocol.py against the official slices (SPEC §6).

The official mir.py takes, per layer, image_embeds = latent[img_start:img_start + 576]
and text_embeds = latent[img_start + 576:], img_start being the image token's
index in input_ids. Here a stand-in tokenizer builds the prompts and a stand-in
model expands the image token into feature positions (transformers is not a
Debian package); the masks must select exactly the official slices, on
several layouts. Runs under Debian's /usr/bin/python3 with python3-pytest and
python3-torch (1.13, CPU); ctest label `python`.
"""
import os
import re
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
import mir_protocol as mp  # noqa: E402

IMAGE_TOKEN_INDEX = -200  # LLaVA's placeholder id (llava.constants.IMAGE_TOKEN_INDEX)
HF_IMAGE_ID = 32000       # llava-hf's image_token_index
BOS = 1


class StandInTokenizer:
    """Words, punctuation and the special tokens; BOS first, as LLaMA's tokenizer."""

    SPECIAL = {"<image>": None, "<im_start>": 32001, "<im_end>": 32002, "</s>": 2}

    def __init__(self, image_id=IMAGE_TOKEN_INDEX):
        self.image_id = image_id
        self.vocab = {}

    def __call__(self, text):
        ids = [BOS]
        for piece in re.findall(r"<image>|<im_start>|<im_end>|</s>|\w+|[^\w\s]|\n", text):
            if piece == "<image>":
                ids.append(self.image_id)
            elif piece in self.SPECIAL:
                ids.append(self.SPECIAL[piece])
            else:
                ids.append(self.vocab.setdefault(piece, 100 + len(self.vocab)))
        return ids


def stand_in_model(ids, image_id, n_image, d=4, expanded=False):
    """Hidden states [T, d] whose row i carries position i; the image placeholder
    expands to n_image positions (unless the ids are expanded already)."""
    total = len(ids) if expanded else len(ids) - 1 + n_image
    return torch.arange(total, dtype=torch.float32).unsqueeze(1).repeat(1, d)


def official_slices(ids, image_id, latent, n_image):
    """The official code's slices, literally (mir.py: torch.where on input_ids)."""
    input_ids = torch.tensor([ids])
    img_start = torch.where(input_ids == image_id)[1][0]
    return latent[img_start:img_start + n_image], latent[img_start + n_image:]


def check_layout(ids, image_id, n_image, expanded=False):
    latent = stand_in_model(ids, image_id, n_image, expanded=expanded)
    vision, text = mp.masks(ids, image_id, latent.shape[0], "official", n_image)
    assert len(vision) == len(text) == latent.shape[0]
    v_off, t_off = official_slices(ids, image_id, latent, n_image)
    vm, tm = torch.tensor(vision, dtype=torch.bool), torch.tensor(text, dtype=torch.bool)
    assert torch.equal(latent[vm], v_off)
    assert torch.equal(latent[tm], t_off)
    assert not (vm & tm).any()
    return vision, text


def test_official_prompt_is_vicuna_v1():
    p = mp.prompt("Some story.", "official")
    assert p == ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the user's questions. USER: <image>\n ASSISTANT: "
                 "Some story.</s>")
    assert mp.prompt("x", "official", im_start_end=True).count("<im_start><image><im_end>\n") == 1
    assert mp.prompt("Some story.", "all-text") == "USER: <image>\nSome story. ASSISTANT:"
    with pytest.raises(mp.ProtocolError, match="unknown protocol"):
        mp.prompt("x", "fast")


def test_story_text_is_the_part_before_the_first_highlight():
    raw = "(CNN) -- First paragraph.\n\nSecond one.\n\n@highlight\n\nA highlight\n\n@highlight\n\nAnother"
    assert mp.story_text(raw) == "(CNN) -- First paragraph.\n\nSecond one."
    assert mp.story_text("no highlight at all \n") == "no highlight at all"


def test_official_layout_image_after_the_system_prompt():
    tok = StandInTokenizer()
    ids = tok(mp.prompt("The quick brown fox jumps.", "official"))
    vision, text = check_layout(ids, IMAGE_TOKEN_INDEX, 576)
    start = ids.index(IMAGE_TOKEN_INDEX)
    assert start > 30  # BOS, the system prompt and "USER:" come first
    assert sum(vision) == 576 and vision.index(1) == start
    assert sum(text) == len(ids) - start - 1  # "\n", "ASSISTANT", ":", the text, "</s>"
    assert sum(vision) + sum(text) < len(vision)  # the prefix is in neither set
    assert vision[0] == text[0] == 0  # BOS is ignored


def test_image_right_after_bos_and_a_small_image_block():
    tok = StandInTokenizer()
    ids = tok("<image>\nShort text here.")
    assert ids.index(IMAGE_TOKEN_INDEX) == 1
    vision, text = check_layout(ids, IMAGE_TOKEN_INDEX, 9)
    assert text[0] == 0 and sum(vision) == 9


def test_with_im_start_and_im_end_tokens():
    tok = StandInTokenizer()
    ids = tok(mp.prompt("Text after an image block.", "official", im_start_end=True))
    vision, text = check_layout(ids, IMAGE_TOKEN_INDEX, 576)
    start = ids.index(IMAGE_TOKEN_INDEX)
    assert ids[start - 1] == 32001 and ids[start + 1] == 32002
    assert vision[start - 1] == 0 and text[start - 1] == 0  # <im_start> is in neither set
    assert text[start + 576] == 1  # <im_end> is the first text position, as in the official slice


def test_ids_expanded_by_the_processor():
    # Newer transformers processors repeat the image id once per patch.
    tok = StandInTokenizer(HF_IMAGE_ID)
    ids = tok(mp.prompt("Expanded ids.", "official"))
    start = ids.index(HF_IMAGE_ID)
    expanded = ids[:start] + [HF_IMAGE_ID] * 576 + ids[start + 1:]
    vision, text = check_layout(expanded, HF_IMAGE_ID, 576, expanded=True)
    # The same masks as the unexpanded layout of the same prompt.
    assert (vision, text) == mp.masks(ids, HF_IMAGE_ID, len(expanded), "official", 576)


def test_several_images_are_refused():
    tok = StandInTokenizer()
    ids = tok("USER: <image>\n<image>\n ASSISTANT: two images</s>")
    with pytest.raises(mp.ProtocolError, match="several images"):
        mp.masks(ids, IMAGE_TOKEN_INDEX, len(ids) - 2 + 2 * 576)
    with pytest.raises(mp.ProtocolError, match="several images"):
        mp.masks(ids, IMAGE_TOKEN_INDEX)
    hf = StandInTokenizer(HF_IMAGE_ID)("USER: <image> and <image> ASSISTANT:")
    a = hf.index(HF_IMAGE_ID)
    b = hf.index(HF_IMAGE_ID, a + 1)
    expanded = hf[:a] + [HF_IMAGE_ID] * 576 + hf[a + 1:b] + [HF_IMAGE_ID] * 576 + hf[b + 1:]
    with pytest.raises(mp.ProtocolError, match="several images"):
        mp.masks(expanded, HF_IMAGE_ID, len(expanded))


def test_no_image_and_a_wrong_length_are_refused():
    ids = StandInTokenizer()("no image here")
    with pytest.raises(mp.ProtocolError, match="no image token"):
        mp.masks(ids, IMAGE_TOKEN_INDEX)
    ids = StandInTokenizer()(mp.prompt("x", "official"))
    with pytest.raises(mp.ProtocolError, match="positions"):
        mp.masks(ids, IMAGE_TOKEN_INDEX, len(ids) + 575 + 3)


def test_all_text_counts_every_non_vision_position():
    tok = StandInTokenizer()
    ids = tok(mp.prompt("Old behaviour.", "all-text"))
    vision, text = mp.masks(ids, IMAGE_TOKEN_INDEX, len(ids) + 575, "all-text")
    assert [1 - v for v in vision] == text and text[0] == 1  # BOS counted as text
