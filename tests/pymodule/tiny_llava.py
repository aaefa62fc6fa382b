"""A tiny LLaVA-style model in pure torch, built the way Hugging Face builds a
LLaMA-family decoder (RMSNorm, rotary attention, SwiGLU MLP; `model.model.layers`
and `model.model.norm`), with a projector that turns image features into the
positions of one image token (LLaVA's own expansion). Random weights; used by
tests/pymodule and bench/python to run the hooks against the model's own
output_hidden_states. K = 4 decoder layers, d = 64 by default.
"""
import math

import torch
from torch import nn

IMAGE_TOKEN = 3  # the id of the image token (expanded to `patches` positions)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.float().pow(2).mean(-1, keepdim=True)
        w = self.weight
        return ((x.float() * torch.rsqrt(var + self.eps)).to(w.dtype) * w).to(x.dtype)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.q_proj, self.k_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.v_proj, self.o_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, self.hd).transpose(1, 2) for p in (self.q_proj, self.k_proj,
                                                                                   self.v_proj))
        inv = 1.0 / (10000 ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        ang = torch.outer(torch.arange(t, dtype=torch.float32), inv)
        cos, sin = torch.cat((ang, ang), -1).cos().to(x.dtype), torch.cat((ang, ang), -1).sin().to(x.dtype)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        y = att.float().softmax(-1).to(x.dtype) @ v
        return self.o_proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(d), RMSNorm(d)
        self.self_attn, self.mlp = Attention(d, heads), MLP(d, 2 * d + d // 2)

    def forward(self, hidden_states, attention_mask=None):
        x = hidden_states.to(self.input_layernorm.weight.dtype)  # hidden states stored in f16, computed in f32
        h = x + self.self_attn(self.input_layernorm(x))
        out = h + self.mlp(self.post_attention_layernorm(h))
        return (out.to(hidden_states.dtype),)  # a tuple, as Hugging Face's layers return


class Decoder(nn.Module):
    def __init__(self, vocab, d, layers, heads):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(DecoderLayer(d, heads) for _ in range(layers))
        self.norm = RMSNorm(d)

    def forward(self, inputs_embeds, output_hidden_states=False):
        h, all_h = inputs_embeds, []
        for layer in self.layers:
            if output_hidden_states:
                all_h.append(h)
            h = layer(h)[0]
        h = self.norm(h)
        if output_hidden_states:
            all_h.append(h)
        return h, tuple(all_h) if output_hidden_states else None


class TinyLlava(nn.Module):
    """forward(input_ids [B, T], image_features [B, P, f]) → (logits, hidden_states or None); each sequence holds
    one IMAGE_TOKEN, replaced by the P projected image features (so T + P - 1 positions)."""

    def __init__(self, vocab=50, d=64, layers=4, heads=4, feature_dim=24, seed=0, hidden_dtype=None):
        super().__init__()
        self.hidden_dtype = hidden_dtype  # e.g. float16 hidden states from float32 weights (CPU torch has no f16 matmul)
        torch.manual_seed(seed)
        self.model = Decoder(vocab, d, layers, heads)
        self.multi_modal_projector = nn.Sequential(nn.Linear(feature_dim, d), nn.GELU(), nn.Linear(d, d))
        self.lm_head = nn.Linear(d, vocab, bias=False)
        with torch.no_grad():  # LLaMA-like scales: embeddings small, image tokens of another scale than text
            self.model.embed_tokens.weight.mul_(0.5)

    def forward(self, input_ids, image_features, output_hidden_states=False):
        emb = self.model.embed_tokens(input_ids)
        img = self.multi_modal_projector(image_features.to(emb.dtype))
        rows = []
        for b in range(input_ids.shape[0]):
            at = int((input_ids[b] == IMAGE_TOKEN).nonzero()[0, 0])
            rows.append(torch.cat([emb[b, :at], img[b], emb[b, at + 1:]], 0))
        x = torch.stack(rows)
        h, all_h = self.model(x if self.hidden_dtype is None else x.to(self.hidden_dtype), output_hidden_states)
        return self.lm_head(h.to(self.lm_head.weight.dtype)), all_h


def sample_inputs(n, vocab=50, feature_dim=24, patches=12, prefix=3, seed=1):
    """n samples (input_ids [1, T], image_features [1, P, f]): `prefix` tokens (BOS and a system prompt), the image
    token, then 10-25 text tokens; the official protocol counts the image block as vision, what follows as text."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        text = int(torch.randint(10, 26, (1,), generator=g))
        ids = torch.randint(4, vocab, (1, prefix + 1 + text), generator=g)
        ids[0, 0] = 1
        ids[0, prefix] = IMAGE_TOKEN
        out.append((ids, torch.randn(1, patches, feature_dim, generator=g) * 2.0))
    return out
