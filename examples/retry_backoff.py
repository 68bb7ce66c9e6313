"""Retry with backoff: 429 and 5xx answers are retried (honouring Retry-After) until the first token arrives."""
import logging

import requests
from urllib3.util.retry import Retry

import ssekit
from _common import target


def main() -> None:
    """Stream through staged rate-limit and server errors: with a count, a urllib3 Retry, and your own loop."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")  # each retry is logged
    with target(__doc__) as where:
        url = where.url("/chat/completions")
        body = {"model": where.model, "stream": True, "messages": [{"role": "user", "content": "Say hello."}]}

        if where.gateway:
            where.gateway.fail_next(429, times=2, retry_after=0.2)  # two "slow down" answers first
        with ssekit.stream_completion(url, json=body, timeout=(5, 60), retry=3) as stream:
            print("retry=3: %d characters" % len("".join(stream)))

        # A urllib3 Retry sets how many tries, which statuses, and the backoff factor.
        if where.gateway:
            where.gateway.fail_next(503)
        policy = Retry(total=4, status_forcelist=[429, 500, 502, 503, 504], backoff_factor=0.1)
        with ssekit.stream_completion(url, json=body, timeout=(5, 60), retry=policy) as stream:
            print("retry=Retry(...): %d characters" % len("".join(stream)))

        # Your own requests get the same loop from ssekit.attempts().
        if where.gateway:
            where.gateway.fail_next(500)
        headers = {"Authorization": "Bearer " + where.api_key} if where.api_key else {}
        accumulator = ssekit.ChatCompletionsAccumulator()
        with requests.Session() as session:
            for attempt in ssekit.attempts(3):
                with attempt:
                    with ssekit.connect_sse(session, "POST", url, json=body, headers=headers,
                                            timeout=attempt.timeout((5, 60))) as source:
                        for sse in source.iter_sse():
                            attempt.commit()  # output is being used: no silent retry from here on
                            accumulator.add(sse)
        print("ssekit.attempts(): %d characters after %d tries" % (len(accumulator.finish().text), attempt.number))


if __name__ == "__main__":
    main()
