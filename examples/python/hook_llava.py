#!/usr/bin/env python3
"""MIR of a Hugging Face LLaVA checkpoint computed during ordinary forward
passes with mir.HiddenStateHook: no dumps, no output_hidden_states, exact, in
memory independent of the number of samples (docs/python.md).

The prompts and positions are the official protocol's (SPEC §6, the same as
dump_hidden_states.py beside this file): the vicuna_v1 system prompt,
"USER: <image>\\n ASSISTANT: {text}</s>", vision = the image block, text =
every position after it. Images and texts are paired in sorted name order,
the first --eval-num (100) of each.

Requirements (not needed by mir itself): torch, transformers, pillow, and
`import mir` (bash scripts/install-python.sh). Example:

  python3 hook_llava.py --model llava-hf/llava-1.5-7b-hf \\
      --images textvqa_val_images/ --texts cnn_stories/ --json mir.json

On a GPU the hidden states are copied to the host layer by layer
(copy_to_host=True) until mir's CUDA backend exists.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mir_protocol  # noqa: E402
from dump_hidden_states import image_text_pairs  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face model id or path (LLaVA family)")
    ap.add_argument("--images", required=True, help="directory of images (paired in sorted name order)")
    ap.add_argument("--texts", required=True, help="directory of CNN/DailyMail .story files, or one text per line")
    ap.add_argument("--eval-num", type=int, default=100, help="number of samples (default 100, as the paper)")
    ap.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16")
    ap.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES", "") != "" else "cpu")
    ap.add_argument("--outliers", default="replace-median", help="replace-median (default, the paper's), drop, none")
    ap.add_argument("--json", default="", help="write the result as `mir compute --json` would")
    args = ap.parse_args()

    import mir
    import torch
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    dtype = getattr(torch, args.dtype)
    processor = AutoProcessor.from_pretrained(args.model)
    model = LlavaForConditionalGeneration.from_pretrained(args.model, torch_dtype=dtype).to(args.device).eval()
    im_start_end = bool(getattr(model.config, "mm_use_im_start_end", False))
    text_config = getattr(model.config, "text_config", model.config)

    images, texts, n = image_text_pairs(args.images, args.texts, args.eval_num)
    if n == 0:
        print("no image-text pairs found", file=sys.stderr)
        return 1

    acc = mir.Accumulator(text_config.num_hidden_layers + 1, text_config.hidden_size, outliers=args.outliers)
    with torch.no_grad(), mir.HiddenStateHook(model, acc, image_token_id=model.config.image_token_index,
                                              copy_to_host=args.device != "cpu") as hook:
        for p in acc.passes():  # exact in bounded memory: the samples are replayed (2 passes, rarely 3-4)
            for i in range(n):
                image = Image.open(os.path.join(args.images, images[i])).convert("RGB")
                prompt = mir_protocol.prompt(texts[i], "official", im_start_end)
                inputs = processor(images=image, text=prompt, return_tensors="pt").to(args.device, dtype)
                hook.set_sample(input_ids=inputs["input_ids"])
                model(**inputs)  # the prefill; the hooks read every layer's output in place
            print(f"pass {p}: {n} samples", file=sys.stderr)
    res = acc.result()
    for layer in res.layers:
        print(f"layer {layer.layer:2d}  FID {layer.fid:.6g}  alpha {layer.alpha:.4g}  "
              f"vision {layer.vision_rows} text {layer.text_rows}")
    print(f"MIR {res.mir:.6f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res.to_dict(), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
