#!/usr/bin/env python3
"""Dump a LLaVA model's hidden states for `mir compute` (SPEC §6 layout).

One safetensors file per image-text sample, holding
  hidden_states  [K+1, T, d]  every layer's output (index 0 = embeddings,
                              index K = after the final norm), as Hugging Face
                              returns them with output_hidden_states=True
  vision_mask    [T] (U8)     1 at the image-token positions

Then:  mir compute dumps/ --plot fid.svg

Requirements (not needed by mir itself): torch, transformers, safetensors,
pillow. Example:

  python dump_hidden_states.py --model llava-hf/llava-1.5-7b-hf \
      --images val_images/ --texts texts.txt --out dumps/ --limit 100

The paper's evaluation set is 100 TextVQA validation images with
CNN/DailyMail story text; any image-text pairs from your domain work.
"""
import argparse
import os
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face model id or path (LLaVA family)")
    ap.add_argument("--images", required=True, help="directory of images (sorted by name)")
    ap.add_argument("--texts", required=True, help="text file, one text per line (paired with the images)")
    ap.add_argument("--out", required=True, help="output directory for sample_NNNN.safetensors")
    ap.add_argument("--limit", type=int, default=100, help="number of samples (default 100)")
    ap.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16",
                    help="dtype of the dumped hidden states (default float16)")
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

    images = sorted(f for f in os.listdir(args.images) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    with open(args.texts, encoding="utf-8") as f:
        texts = [line.strip() for line in f if line.strip()]
    n = min(args.limit, len(images), len(texts))
    if n == 0:
        print("no image-text pairs found", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)

    for i in range(n):
        image = Image.open(os.path.join(args.images, images[i])).convert("RGB")
        prompt = f"USER: <image>\n{texts[i]} ASSISTANT:"
        inputs = processor(images=image, text=prompt, return_tensors="pt").to(args.device, dtype)
        with torch.no_grad():
            out = model(**inputs, output_hidden_states=True)
        # [K+1, 1, T, d] -> [K+1, T, d]; the expanded sequence has one position
        # per image patch where the prompt had <image>.
        hidden = torch.stack(out.hidden_states)[:, 0].to(dtype).contiguous().cpu()
        ids = inputs["input_ids"][0]
        if ids.shape[0] == hidden.shape[1]:
            # Processors that already expand <image> into one token per patch.
            mask = (ids == image_token_id).to(torch.uint8).cpu()
        else:
            # Older processors: a single <image> token expanded inside the model.
            n_img = hidden.shape[1] - ids.shape[0] + 1
            pos = int((ids == image_token_id).nonzero()[0])
            mask = torch.zeros(hidden.shape[1], dtype=torch.uint8)
            mask[pos:pos + n_img] = 1
        save_file({"hidden_states": hidden, "vision_mask": mask},
                  os.path.join(args.out, f"sample_{i:04d}.safetensors"))
        print(f"[{i + 1}/{n}] {images[i]}: {hidden.shape[1]} tokens, {int(mask.sum())} vision", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
