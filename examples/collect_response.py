"""Collect the whole response: the text, finish reason, ids and completeness, after (or without) printing."""
import ssekit
from _common import target


def main() -> None:
    """Stream quietly, then use the rebuilt Completion."""
    with target(__doc__) as where:
        body = {
            "model": where.model,
            "stream": True,
            "messages": [{"role": "user", "content": "Explain SSE in three sentences."}],
        }
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60)) as stream:
            for _ in stream:  # the loop drives the stream; .completion holds everything so far
                pass
        completion = stream.completion
        print("text:", completion.text)
        print("finish_reason:", completion.finish_reason)
        print("complete:", completion.complete)
        print("id:", completion.id, "model:", completion.model)  # log the id: providers ask for it in support requests
        print("as JSON:", len(completion.to_json()), "characters")


if __name__ == "__main__":
    main()
