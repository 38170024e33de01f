"""The official `openai` Python client against an assay gateway: completions and chat, streamed
and not, the model list, and the client's own error types for bad requests.

Run by host/gateway/tests/loopback.rs (scripts/test.sh sets up the venv):
    python scripts/openai-client-check.py --base-url http://127.0.0.1:8000/v1 --key sk-... --slow-key sk-... --model M
Exits non-zero at the first check that fails.
"""

import argparse
import sys

import openai
from openai import OpenAI


def check(name, ok, detail=""):
    if not ok:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--slow-key", required=True, help="a key whose rate limit allows one request")
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    # No retries: the error checks must see the first answer.
    client = OpenAI(base_url=a.base_url, api_key=a.key, max_retries=0, timeout=60)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]

    r = client.chat.completions.create(model=a.model, messages=messages, max_tokens=8, temperature=0)
    check("chat: a message", isinstance(r.choices[0].message.content, str) and r.choices[0].message.role == "assistant")
    check("chat: usage", r.usage is not None and r.usage.completion_tokens >= 1, repr(r.usage))
    check("chat: finish reason", r.choices[0].finish_reason in ("stop", "length"), r.choices[0].finish_reason)

    chunks = list(client.chat.completions.create(model=a.model, messages=messages, max_tokens=8, stream=True, seed=1))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check("chat stream: chunks with content", len(chunks) >= 2 and len(text) > 0, f"{len(chunks)} chunks")
    check("chat stream: a finish reason", any(c.choices and c.choices[0].finish_reason for c in chunks))

    c = client.completions.create(model=a.model, prompt="Once upon a time", max_tokens=8, temperature=0)
    check("completion: text", isinstance(c.choices[0].text, str) and c.usage.completion_tokens >= 1)
    chunks = list(client.completions.create(model=a.model, prompt="Once upon a time", max_tokens=8, stream=True))
    check("completion stream: chunks", len(chunks) >= 2 and "".join(x.choices[0].text for x in chunks if x.choices))

    models = [m.id for m in client.models.list()]
    check("models: the served model", models == [a.model], repr(models))

    def raises(name, error_type, call):
        try:
            call()
        except error_type as e:
            body = e.body if isinstance(e.body, dict) else {}
            check(name, bool(body.get("message")) and bool(body.get("type")), repr(e.body))
            return
        except Exception as e:  # noqa: BLE001 - the wrong error type is the failure
            check(name, False, f"raised {type(e).__name__}: {e}")
        check(name, False, "did not raise")

    raises("unknown model -> NotFoundError", openai.NotFoundError,
           lambda: client.chat.completions.create(model="no-such-model", messages=messages))
    raises("empty messages -> BadRequestError", openai.BadRequestError,
           lambda: client.chat.completions.create(model=a.model, messages=[]))
    raises("n > 1 -> BadRequestError", openai.BadRequestError,
           lambda: client.completions.create(model=a.model, prompt="x", n=2))
    bad_key = OpenAI(base_url=a.base_url, api_key="sk-wrong", max_retries=0)
    raises("wrong key -> AuthenticationError", openai.AuthenticationError,
           lambda: bad_key.chat.completions.create(model=a.model, messages=messages))
    slow = OpenAI(base_url=a.base_url, api_key=a.slow_key, max_retries=0)
    slow.chat.completions.create(model=a.model, messages=messages, max_tokens=2)
    raises("past the key's rate -> RateLimitError", openai.RateLimitError,
           lambda: slow.chat.completions.create(model=a.model, messages=messages, max_tokens=2))
    print("all checks passed")


if __name__ == "__main__":
    main()
