"""Does the proxy's store of responses keep up with Responses calls while the event loop is busy?

Run: ``python bench/response_store.py [--records N]``. Writes small records (a short call's Response
and conversation, ~1 KB) through ``ResponseTable.write`` in the writer's batches of 256, on a table
bounded to 5,000 records (so every batch also evicts), with nothing beside the writer and with a
thread running Python beside it (the proxy's event loop under a flood). Beside each, in the same
run, the baseline: the same batches written one statement per row (a DELETE and an INSERT each),
as the store did before (docs/response-store.md#the-writer). Prints records/s; the proxy answers
~2,500 small Responses calls/s on this machine, so the writer beside a busy loop should do more.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load_support.busy_thread import busy_thread  # noqa: E402

from host.proxy.response_table import ResponseStoreLimits, ResponseTable, Write  # noqa: E402
from shim.responses_store import StoredResponse  # noqa: E402

BATCH = 256


def _record(number: int) -> Write:
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello " * 20}]}]
    response = {"id": f"resp_{number}", "object": "response", "status": "completed", "output": output}
    stored = StoredResponse(f"resp_{number}", time.time(), response, ({"role": "user", "content": "hi " * 40},
                                                                      *output))
    return stored.response_id, stored.created_at, stored.to_json()


def _row_at_a_time(table: ResponseTable, writes: List[Write]) -> None:
    """The baseline: what ``write`` did before, one statement per row (then the same eviction)."""
    with table._writer:
        for response_id, created_at, record in writes:
            table._writer.execute("DELETE FROM responses WHERE id = ?", (response_id,))
            assert created_at is not None and record is not None
            table._writer.execute("INSERT INTO responses (id, created_at, size, record) VALUES (?, ?, ?, ?)",
                                  (response_id, created_at, len(record), record))
        table._evict(max(created_at or 0.0 for _, created_at, _ in writes))


def _rate(write: Callable[[ResponseTable, List[Write]], None], records: int, busy: bool, directory: Path) -> float:
    table = ResponseTable(directory / f"{write.__name__}-{busy}.db", ResponseStoreLimits(max_entries=5_000))
    batches = [[_record(start + index) for index in range(BATCH)] for start in range(0, records, BATCH)]
    with busy_thread(busy):
        started = time.perf_counter()
        for batch in batches:
            write(table, batch)
        elapsed = time.perf_counter() - started
    table.close()
    return len(batches) * BATCH / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    rows: List[Tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="rbr-") as tmp:
        for busy in (False, True):
            count = args.records if not busy else args.records // 4  # the baseline is slow beside a busy thread
            rows.append(("beside a busy thread" if busy else "alone",
                         _rate(ResponseTable.write, count, busy, Path(tmp)),
                         _rate(_row_at_a_time, min(count, 2_000) if busy else count, busy, Path(tmp))))
    print(f"{'writer':<22}  {'many rows a statement':>22}  {'one row a statement (before)':>29}")
    for name, batched, per_row in rows:
        print(f"{name:<22}  {batched:>14,.0f} records/s  {per_row:>21,.0f} records/s")


if __name__ == "__main__":
    main()
