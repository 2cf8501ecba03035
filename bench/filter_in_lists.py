"""How fast the store counts and pages an audience given as a large ``id IN (...)`` list.

Programs target contacts by listing their ids; the filter goes to SQL as one bound JSON
array (``json_each``), so the cost should grow with the list, not explode. Prints the
median of 5 runs for each list size over a 100 000-contact store, and the ratio to the
plain ``count`` of everyone in the same run.

    .venv/bin/python bench/filter_in_lists.py
"""

from __future__ import annotations

import statistics
import time

from broadcaster.core.models import Chat, Contact
from broadcaster.store import open_store

CONTACTS = 100_000


def median_seconds(action, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    with open_store(":memory:") as store:
        store.upsert_contacts(
            [Contact(f"c{i:06d}", f"n{i}", fields={"n": i}, chats=(Chat("tg", str(i)),)) for i in range(CONTACTS)]
        )
        everyone = median_seconds(lambda: store.count_contacts(""))
        print(f"{CONTACTS} contacts; count of everyone: {everyone * 1000:.1f} ms (median of 5)")
        for size in (10, 1_000, 10_000, 100_000):
            ids = ", ".join(f'"c{i:06d}"' for i in range(0, CONTACTS, max(1, CONTACTS // size))[:size])
            text = f"id IN ({ids})"
            count = store.count_contacts(text)
            took = median_seconds(lambda text=text: store.count_contacts(text))
            page = median_seconds(lambda text=text: store.contacts_page(text, after_id=None, limit=500))
            print(
                f"id IN ({size:>6} ids): count {count:>6} in {took * 1000:7.1f} ms"
                f" ({took / everyone:5.1f}x everyone), first page of 500 in {page * 1000:6.1f} ms"
            )


if __name__ == "__main__":
    main()
