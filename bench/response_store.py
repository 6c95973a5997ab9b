"""Does the proxy's store of responses keep up with Responses calls while the event loop is busy?

Run: ``python bench/response_store.py [--records N]``. Writes small records (a short call's Response
and conversation, ~1 KB) through ``ResponseTable.write`` on a table bounded to 5,000 records (so
every batch also evicts), with nothing beside the writer and with a thread running Python beside it
(the proxy's event loop under a flood). Two kinds of batches: full ones (256 records, the writer's
most) and the sizes the writer really took under a flood of small Responses calls (the first
batches of one ``bench/hostile.py`` "Responses calls" phase: 29 to 242 records). Beside each, in the
same run, two baselines kept here as they were: runs of 256/64/16/4/1 rows a statement after a
deletion of the batch's ids (the writer before it wrote any batch in one statement), and one
statement per row (before that). Prints records/s (docs/response-store.md#the-writer); the proxy
answers ~2,500 small Responses calls/s on this machine, so the writer beside a busy loop should do
more.
"""

import argparse
import sys
import tempfile
import time
from itertools import chain, cycle, islice
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load_support.busy_thread import busy_thread  # noqa: E402

from host.proxy.response_table import ResponseStoreLimits, ResponseTable, Write  # noqa: E402
from shim.responses_store import StoredResponse  # noqa: E402

FULL = 256
FLOOD_SIZES = (29, 157, 242, 87, 18, 103, 55, 199)  # batch sizes seen under a Responses flood


def _record(number: int) -> Write:
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello " * 20}]}]
    response = {"id": f"resp_{number}", "object": "response", "status": "completed", "output": output}
    stored = StoredResponse(f"resp_{number}", time.time(), response, ({"role": "user", "content": "hi " * 40},
                                                                      *output))
    return stored.response_id, stored.created_at, stored.to_json()


def _row_at_a_time(table: ResponseTable, writes: List[Write]) -> None:
    """The first baseline: one statement per row (then today's eviction)."""
    with table._writer:
        for response_id, created_at, record in writes:
            table._writer.execute("DELETE FROM responses WHERE id = ?", (response_id,))
            assert created_at is not None and record is not None
            table._writer.execute("INSERT INTO responses (id, created_at, size, record) VALUES (?, ?, ?, ?)",
                                  (response_id, created_at, len(record), record))
        table._evict(max(created_at or 0.0 for _, created_at, _ in writes))


def _runs_of_rows(table: ResponseTable, writes: List[Write]) -> None:
    """The second baseline: the batch's ids deleted, then its rows inserted, in runs of 256, 64, 16,
    4 and 1 rows a statement; eviction as it was (the expired rows, then the oldest in rounds; the
    count bound only: this bench never reaches the size bound)."""
    with table._writer:
        for text, parameters in _runs("DELETE FROM responses WHERE id IN ({rows})", [(w[0],) for w in writes]):
            table._writer.execute(text, parameters)
        rows = [(response_id, created_at, len(record or b""), record) for response_id, created_at, record in writes]
        for text, parameters in _runs("INSERT INTO responses (id, created_at, size, record) VALUES {rows}", rows):
            table._writer.execute(text, parameters)
        now = max(created_at or 0.0 for _, created_at, _ in writes)
        table._writer.execute("DELETE FROM responses WHERE created_at <= ?", (now - table.limits.max_age_seconds,))
        while True:
            (entries,) = table._writer.execute("SELECT entries FROM totals").fetchone()
            over = entries - table.limits.max_entries
            if over <= 0:
                return
            oldest = table._writer.execute("SELECT id FROM responses ORDER BY created_at LIMIT ?",
                                           (max(over, 64),)).fetchall()
            for text, parameters in _runs("DELETE FROM responses WHERE id IN ({rows})", oldest[:over]):
                table._writer.execute(text, parameters)


def _runs(template: str, rows: Sequence[Sequence[object]]) -> Iterator[tuple]:
    start = 0
    for size in (256, 64, 16, 4, 1):
        while len(rows) - start >= size:
            chunk = rows[start:start + size]
            one = ", ".join("?" * len(chunk[0]))
            text = template.format(rows=", ".join([f"({one})" if len(chunk[0]) > 1 else one] * size))
            yield text, list(chain.from_iterable(chunk))
            start += size


Writer = Callable[[ResponseTable, List[Write]], None]
WRITERS: Dict[str, Writer] = {"one statement a batch": ResponseTable.write, "runs of rows (before)": _runs_of_rows,
                              "one row a statement": _row_at_a_time}


def _rate(write: Writer, records: int, sizes: Sequence[int], busy: bool, directory: Path) -> float:
    path = directory / f"{write.__name__}-{busy}-{len(sizes)}.db"
    table = ResponseTable(path, ResponseStoreLimits(max_entries=5_000))
    numbers = iter(range(records))
    batches = []
    for size in cycle(sizes):
        batch = [_record(number) for number in islice(numbers, size)]
        if not batch:
            break
        batches.append(batch)
    with busy_thread(busy):
        started = time.perf_counter()
        for batch in batches:
            write(table, batch)
        elapsed = time.perf_counter() - started
    table.close()
    return sum(map(len, batches)) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{'batches':<24}{'':<22}" + "".join(f"{name:>24}" for name in WRITERS))
    with tempfile.TemporaryDirectory(prefix="rbr-") as tmp:
        for sizes, label in (((FULL,), "full (256)"), (FLOOD_SIZES, "as a flood makes them")):
            for busy in (False, True):
                rates = []
                for write in WRITERS.values():
                    # the baselines are slow beside a busy thread: fewer records, the same batches
                    count = args.records if not busy or write is ResponseTable.write else args.records // 8
                    rates.append(_rate(write, count, sizes, busy, Path(tmp)))
                where = "beside a busy thread" if busy else "alone"
                print(f"{label:<24}{where:<22}" + "".join(f"{rate:>14,.0f} records/s" for rate in rates))


if __name__ == "__main__":
    main()
