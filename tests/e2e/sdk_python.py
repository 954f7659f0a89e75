"""An app using the official Python `langsmith` SDK, unmodified, configured only by environment.

`python sdk_python.py works`  traces nested runs, reads them back, and makes Client calls.
`python sdk_python.py denied` expects the key to be refused and reports what the SDK said.
The last line printed is `E2E_RESULT <json>` for the runner.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid

import langsmith
from langsmith import Client, traceable
from langsmith.run_helpers import get_current_run_tree


def traced(client: Client) -> dict[str, str]:
    ids: dict[str, str] = {}

    @traceable(name="e2e-child", client=client)
    def child(x: int) -> int:
        ids["child"] = str(get_current_run_tree().id)
        return x * 2

    @traceable(name="e2e-parent", client=client)
    def parent(x: int) -> int:
        ids["parent"] = str(get_current_run_tree().id)
        return child(x) + 1

    assert parent(20) == 41
    client.flush()
    return ids


def compressed_client() -> Client:
    """A Client that has read /info and switched to zstd tracing.

    The SDK reads /info in its tracing thread and only then starts compressing; runs traced before
    that go out uncompressed. Waiting (with a deadline) makes the zstd check deterministic; if the
    switch never happens, the runner's check says so.
    """
    client = Client()
    deadline = time.monotonic() + 10
    while client.compressed_traces is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return client


def works() -> dict:
    client = compressed_client()
    suffix = uuid.uuid4().hex[:8]
    ids = traced(client)

    parent = client.read_run(ids["parent"])
    child = client.read_run(ids["child"])
    assert parent.name == "e2e-parent", parent.name
    assert parent.outputs == {"output": 41}, parent.outputs
    assert str(child.parent_run_id) == ids["parent"], child.parent_run_id
    assert child.outputs == {"output": 40}, child.outputs

    project = client.create_project(f"e2e-py-project-{suffix}", description="e2e")
    dataset = client.create_dataset(f"e2e-py-dataset-{suffix}", description="e2e")
    client.create_examples(
        dataset_id=dataset.id,
        examples=[
            {"inputs": {"question": "2+2"}, "outputs": {"answer": "4"}},
            {"inputs": {"question": "3+3"}, "outputs": {"answer": "6"}},
        ],
    )
    examples = list(client.list_examples(dataset_id=dataset.id))
    assert len(examples) == 2, examples
    names = [p.name for p in client.list_projects()]
    assert project.name in names, names
    feedback = client.create_feedback(run_id=ids["parent"], key="e2e-correct", score=1.0)
    return {
        "ok": True,
        "run_ids": ids,
        "project": project.name,
        "dataset": dataset.name,
        "feedback_id": str(feedback.id),
    }


class Collect(logging.Handler):
    """Keeps the SDK's background warnings: a failed trace upload is only ever logged."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def denied() -> dict:
    collect = Collect()
    logging.getLogger("langsmith").addHandler(collect)
    client = Client()
    traced(client)
    try:
        client.create_project(f"e2e-py-denied-{uuid.uuid4().hex[:8]}")
    except Exception as error:  # the point: report whatever the SDK raised
        return {
            "ok": True,
            "error_type": type(error).__name__,
            "error_text": str(error),
            "trace_warnings": collect.messages,
        }
    return {"ok": False, "error": "create_project succeeded with a refused key"}


def main() -> None:
    mode = sys.argv[1]
    print(f"python langsmith {langsmith.__version__}", file=sys.stderr)
    try:
        result = {"works": works, "denied": denied}[mode]()
    except Exception as error:
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    print("E2E_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
