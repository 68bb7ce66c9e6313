"""Re-record tests/cassettes/: one streamed answer of the local gateway in each of its six formats.

Run from the repository root: ``python tests/record_cassettes.py``. The
cassettes are committed; tests/test_cassette.py replays them. The gateway
paces its events so that each arrives in its own read, as a provider's do.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from ssekit import stream_completion  # noqa: E402
from ssekit.testing import PATHS, LocalGateway, sample_request  # noqa: E402

#: What every cassette asks and what the gateway answers (short: the tests split every byte).
PROMPT = "What is the capital of France?"
ANSWER = "The capital of France is Paris."
#: Fake key sent with each request; a test checks it is in no cassette.
API_KEY = "sk-cassette-KEY-q7ZrX2vLw9"
FOLDER = os.path.join(HERE, "cassettes")


def main() -> None:
    with LocalGateway(answer=ANSWER, pace=0.005) as gateway:
        for name in sorted(PATHS):
            path = os.path.join(FOLDER, name + ".jsonl")
            body = sample_request(name, prompt=PROMPT)
            with stream_completion(gateway.url(name), json=body, api_key=API_KEY, format=name, record=path) as stream:
                text = "".join(stream)
            print("%s: %r, %d bytes" % (path, text, os.path.getsize(path)))


if __name__ == "__main__":
    main()
