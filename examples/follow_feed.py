"""A plain SSE feed (job progress, notifications) with follow_sse: reconnects with Last-Event-ID like EventSource."""
import json

import requests

import ssekit
from _common import target


def main() -> None:
    """Follow a job's progress feed to its end; the local feed drops the connection every two events."""
    with target(__doc__) as where, requests.Session() as session:
        if where.api_key:
            session.headers["Authorization"] = "Bearer " + where.api_key
        # follow_sse reconnects after each drop (waiting the server's retry: delay) and stops on HTTP 204.
        for sse in ssekit.follow_sse(session, where.url("/events"), timeout=(5, 60), max_reconnects=20):
            progress = json.loads(sse.data)
            print("event %s id=%s: step %s of %s, %s" % (sse.event, sse.id, progress["step"], progress["of"], progress["status"]))
            if progress["status"] == "done":
                break
        print("feed finished")


if __name__ == "__main__":
    main()
