"""A Faust worker for the two-worker hand-over test: counts events per key in a table.

Every event is echoed to the output topic with the worker's name and the key's running count
after it, so the test can see who processed what and whether table state survived a hand-over.
Run as ``python -m tests.workers.faust_counter NAME APP_ID IN_TOPIC OUT_TOPIC BOOTSTRAP DATA_DIR
STATUS_DIR EMBEDDED(0|1)``; it writes its current input assignment to STATUS_DIR/NAME after every rebalance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import faust

from dawn.embedded.client_profile import faust_config
from streams.app import create_app

PARTITIONS = 6


def build(name: str, app_id: str, in_topic: str, out_topic: str, bootstrap: str, data_dir: Path,
          status_dir: Path, embedded: bool) -> faust.App:
    app = create_app(app_id, bootstrap, data_dir=data_dir, broker_profile=faust_config(embedded))
    source = app.topic(in_topic, key_type=bytes, value_type=bytes, partitions=PARTITIONS)
    sink = app.topic(out_topic, key_type=bytes, value_type=bytes, partitions=1)
    totals = app.Table("totals", default=int, partitions=PARTITIONS)

    @app.agent(source)
    async def count(stream: faust.StreamT) -> None:
        async for key, value in stream.items():
            k = key.decode()
            totals[k] += 1
            record = {"worker": name, "key": k, "event": value.decode(), "count": totals[k]}
            await sink.send(key=key, value=json.dumps(record).encode())

    @app.on_rebalance_complete.connect
    async def report(*_args: object, **_kwargs: object) -> None:
        mine = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == in_topic)
        (status_dir / name).write_text(json.dumps(mine))

    return app


if __name__ == "__main__":
    worker_name, app_id, in_topic, out_topic, bootstrap, data_dir, status_dir, embedded = sys.argv[1:9]
    counter = build(worker_name, app_id, in_topic, out_topic, bootstrap, Path(data_dir),
                    Path(status_dir), embedded == "1")
    faust.Worker(counter, loglevel="WARNING", redirect_stdouts=False, quiet=True).execute_from_commandline()
