"""Which positions of a LLaVA prompt are vision and which are text (SPEC §6).

The mask construction of dump_hidden_states.py, kept free of transformers
(and of torch) so that it is unit-tested on its own (tests/python/test_protocol.py).

Protocols:
  official  what the official mir.py measures: the `vicuna_v1` conversation
            with the image as the user turn and the text sample as the
            assistant turn,
                "{SYSTEM} USER: <image>\\n ASSISTANT: {text}</s>"
            vision = the positions the image token expands to (576 for
            LLaVA-1.5), text = EVERY position after the image block
            (the official `latent[img_start + 576:]`: the newline,
            " ASSISTANT:", the text and "</s>"). BOS, the system prompt and
            "USER:" before the image are in neither set (a text_mask is
            written so that mir ignores them).
  all-text  the older convention of this example: "USER: <image>\\n{text} ASSISTANT:",
            and every non-vision position (BOS included) is text; no text_mask.

With <im_start>/<im_end> around the image token (models trained with
mm_use_im_start_end), the official code still starts the vision block at the
image token: <im_start> is in neither set and <im_end> is the first text
position. Several images in one prompt are refused (the official code would
silently take the first).
"""

# The vicuna_v1 system prompt of LLaVA's conversation templates.
VICUNA_V1_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the user's questions.")
IMAGE_TOKEN = "<image>"
IM_START_TOKEN = "<im_start>"
IM_END_TOKEN = "<im_end>"
LLAVA15_IMAGE_TOKENS = 576  # 24 x 24 patches of CLIP ViT-L/14 at 336 px
PROTOCOLS = ("official", "all-text")


class ProtocolError(ValueError):
    """A prompt whose image block cannot be located unambiguously."""


def story_text(raw: str) -> str:
    """A CNN/DailyMail .story file's text as the official code reads it: the
    part before the first "@highlight" (surrounding whitespace removed)."""
    return raw.split("@highlight", 1)[0].strip()


def prompt(text: str, protocol: str = "official", im_start_end: bool = False) -> str:
    """The prompt string of a protocol, with one image placeholder."""
    image = IM_START_TOKEN + IMAGE_TOKEN + IM_END_TOKEN if im_start_end else IMAGE_TOKEN
    if protocol == "official":
        # vicuna_v1 (SeparatorStyle.TWO): system, sep " ", "USER: " + msg, sep " ",
        # "ASSISTANT: " + msg, sep2 "</s>".
        return f"{VICUNA_V1_SYSTEM} USER: {image}\n ASSISTANT: {text}</s>"
    if protocol == "all-text":
        return f"USER: {image}\n{text} ASSISTANT:"
    raise ProtocolError(f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")


def _runs(ids, token):
    """[start, end) of every maximal run of `token` in ids."""
    runs, start = [], None
    for i, t in enumerate(ids):
        if t == token and start is None:
            start = i
        elif t != token and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(ids)))
    return runs


def image_block(input_ids, image_token_id, seq_len=None, num_image_tokens=LLAVA15_IMAGE_TOKENS):
    """(img_start, seq_len) of the single image block in the hidden states.

    input_ids: the prompt's token ids (a list, or anything iterable of ints).
    Two processor conventions are recognised:
      - one placeholder id that the model expands to num_image_tokens
        positions (LLaVA's own code, older transformers): the hidden states
        have len(ids) - 1 + num_image_tokens positions;
      - ids already expanded by the processor (newer transformers): one run
        of num_image_tokens image ids, as many positions as ids.
    seq_len: the hidden states' length, when known (checked against the ids).
    """
    ids = [int(t) for t in input_ids]
    runs = _runs(ids, image_token_id)
    if not runs:
        raise ProtocolError(f"the prompt has no image token (id {image_token_id})")
    count = sum(e - s for s, e in runs)
    expanded = len(runs) == 1 and count == num_image_tokens and num_image_tokens > 1
    if seq_len is not None and count > 1 and seq_len == len(ids):
        expanded = True
    if expanded:
        if len(runs) > 1 or count != num_image_tokens:
            raise ProtocolError(f"several images in one prompt ({count} image ids in {len(runs)} blocks; "
                                f"expected one block of {num_image_tokens}): the official protocol measures "
                                "one image per sample")
        total = len(ids)
    else:
        if count > 1:
            raise ProtocolError(f"several images in one prompt ({count} image tokens): the official protocol "
                                "measures one image per sample")
        total = len(ids) - 1 + num_image_tokens
    if seq_len is not None and seq_len != total:
        raise ProtocolError(f"the hidden states have {seq_len} positions but the prompt's {len(ids)} ids with "
                            f"{num_image_tokens} image positions make {total}")
    return runs[0][0], total


def masks(input_ids, image_token_id, seq_len=None, protocol="official", num_image_tokens=LLAVA15_IMAGE_TOKENS):
    """(vision_mask, text_mask) over the hidden states' positions, lists of 0/1.

    official: vision = [img_start, img_start + n), text = [img_start + n, T)
    (the official slices latent[img_start:img_start + n] and
    latent[img_start + n:]); all-text: text = every non-vision position.
    """
    if protocol not in PROTOCOLS:
        raise ProtocolError(f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")
    start, total = image_block(input_ids, image_token_id, seq_len, num_image_tokens)
    end = start + num_image_tokens
    vision = [1 if start <= i < end else 0 for i in range(total)]
    if protocol == "official":
        text = [1 if i >= end else 0 for i in range(total)]
    else:
        text = [1 - v for v in vision]
    return vision, text
