#!/usr/bin/env python3
"""Dump a LLaVA model's hidden states for `mir compute` (SPEC §6, §7 layout).

One safetensors file per image-text sample, holding
  hidden_states  [K+1, T, d]  every layer's output of the prefill (index 0 =
                              embeddings, index K = after the final norm), as
                              Hugging Face returns them with
                              output_hidden_states=True, in the model's dtype
                              (float16 by default, kept as it is)
  vision_mask    [T] (U8)     1 at the positions the image token expands to
  text_mask      [T] (U8)     1 at the text positions (--protocol official only;
                              positions in neither mask are ignored by mir)

--protocol official (default) follows the official mir.py (SPEC §6): the
vicuna_v1 system prompt, "USER: <image>\\n ASSISTANT: {text}</s>", vision =
the image token's expansion (576 positions for LLaVA-1.5), text = every
position after the image block; BOS, the system prompt and "USER:" are in
neither set. --protocol all-text is this script's older convention
("USER: <image>\\n{text} ASSISTANT:", every non-vision position is text, BOS
included). The mask construction lives in mir_protocol.py beside this file.

Texts: a directory of CNN/DailyMail .story files (each read as the official
code does: the part before the first @highlight), or a .txt file with one
text per line. Images and texts are paired in sorted name order and the
first --eval-num (100) of each are used. The official code pairs them in
os.listdir order, which is the file system's (arbitrary, e.g. hash order on
ext4) and so differs between machines; sorting makes the pairing
reproducible, at the price of not picking the same 100 files as a given
official run.

Then:  mir compute dumps/ --sqrt official-fast   (to compare with published MIR;
       docs/comparing.md)   or   mir compute dumps/   (the exact value)

Requirements (not needed by mir itself): torch, transformers, safetensors,
pillow. Example:

  python dump_hidden_states.py --model llava-hf/llava-1.5-7b-hf \\
      --images textvqa_val_images/ --texts cnn_stories/ --out dumps/

One forward pass per sample (prefill only; no generation is needed).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mir_protocol  # noqa: E402


def read_texts(path, n):
    """The first n texts in sorted order: .story files of a directory, or lines of a file."""
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.endswith(".story"))
        texts = []
        for f in names:
            with open(os.path.join(path, f), encoding="utf-8") as fh:
                t = mir_protocol.story_text(fh.read())
            if t:
                texts.append(t)
            if len(texts) == n:
                break
        return texts
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()][:n]


def image_text_pairs(images_dir, texts_path, eval_num):
    """(image file names, texts, n): both in sorted order, n = how many pairs (at most eval_num)."""
    images = sorted(f for f in os.listdir(images_dir) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    texts = read_texts(texts_path, eval_num)
    return images, texts, min(eval_num, len(images), len(texts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face model id or path (LLaVA family)")
    ap.add_argument("--images", required=True, help="directory of images (paired in sorted name order)")
    ap.add_argument("--texts", required=True,
                    help="directory of CNN/DailyMail .story files, or a text file with one text per line")
    ap.add_argument("--out", required=True, help="output directory for sample_NNNN.safetensors")
    ap.add_argument("--protocol", choices=mir_protocol.PROTOCOLS, default="official",
                    help="which positions are text (default official; see above)")
    ap.add_argument("--eval-num", type=int, default=100, help="number of samples (default 100, as the paper)")
    ap.add_argument("--image-tokens", type=int, default=mir_protocol.LLAVA15_IMAGE_TOKENS,
                    help="positions one image expands to (default 576, LLaVA-1.5)")
    ap.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16",
                    help="dtype of the model and of the dumped hidden states (default float16)")
    ap.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES", "") != "" else "cpu")
    args = ap.parse_args()

    import torch
    from PIL import Image
    from safetensors.torch import save_file
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    dtype = getattr(torch, args.dtype)
    processor = AutoProcessor.from_pretrained(args.model)
    model = LlavaForConditionalGeneration.from_pretrained(args.model, torch_dtype=dtype).to(args.device).eval()
    image_token_id = model.config.image_token_index
    im_start_end = bool(getattr(model.config, "mm_use_im_start_end", False))

    images, texts, n = image_text_pairs(args.images, args.texts, args.eval_num)
    if n == 0:
        print("no image-text pairs found", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)

    for i in range(n):
        image = Image.open(os.path.join(args.images, images[i])).convert("RGB")
        text = mir_protocol.prompt(texts[i], args.protocol, im_start_end)
        inputs = processor(images=image, text=text, return_tensors="pt").to(args.device, dtype)
        with torch.no_grad():  # the prefill: one forward pass, no generation
            out = model(**inputs, output_hidden_states=True)
        # [K+1, 1, T, d] -> [K+1, T, d], in the model's dtype.
        hidden = torch.stack(out.hidden_states)[:, 0].to(dtype).contiguous().cpu()
        vision, text_pos = mir_protocol.masks(inputs["input_ids"][0].tolist(), image_token_id, hidden.shape[1],
                                              args.protocol, args.image_tokens)
        tensors = {"hidden_states": hidden, "vision_mask": torch.tensor(vision, dtype=torch.uint8)}
        if args.protocol == "official":
            tensors["text_mask"] = torch.tensor(text_pos, dtype=torch.uint8)
        save_file(tensors, os.path.join(args.out, f"sample_{i:04d}.safetensors"))
        print(f"[{i + 1}/{n}] {images[i]}: {hidden.shape[1]} positions, {sum(vision)} vision, "
              f"{sum(text_pos)} text", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
