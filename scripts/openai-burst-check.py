"""A burst through an assay gateway with the official `openai` client: N streamed chat completions
sent at the same moment, without retries. Every one must be served: what the miners cannot take
at once waits in the gateway's queue (up to its `queue_timeout_ms`) instead of getting a 503.

Run by host/gateway/tests/loopback.rs (scripts/test.sh sets up the venv):
    python scripts/openai-burst-check.py --base-url http://127.0.0.1:8000/v1 --key sk-... --model M --streams 32
Exits non-zero if any stream failed, after printing why each did.
"""

import argparse
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
from openai import OpenAI


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    a = ap.parse_args()
    # No retries: a 503 must show, not be hidden by the client's own backoff.
    client = OpenAI(base_url=a.base_url, api_key=a.key, max_retries=0, timeout=60)
    together = threading.Barrier(a.streams)

    def one(i):
        together.wait()
        try:
            stream = client.chat.completions.create(
                model=a.model,
                messages=[{"role": "user", "content": f"Tell story number {i}."}],
                max_tokens=a.max_tokens,
                stream=True,
            )
            finished = [c.choices[0].finish_reason for c in stream if c.choices and c.choices[0].finish_reason]
            return None if finished else "the stream ended without a finish reason"
        except openai.APIStatusError as e:
            return f"{e.status_code}: {e.message}"
        except Exception as e:  # noqa: BLE001 - any failure is reported
            return f"{type(e).__name__}: {e}"

    with ThreadPoolExecutor(a.streams) as pool:
        errors = [e for e in pool.map(one, range(a.streams)) if e]
    print(f"served {a.streams - len(errors)} of {a.streams} streams")
    for e in errors:
        print(f"FAIL {e}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
