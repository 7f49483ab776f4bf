"""instruct_python tasks, part B: dates, files in a temporary directory, classes."""

# ruff: noqa: E501


def tasks(task):
    """The tasks of this part, built with the `task` row constructor."""
    return _dates(task) + _files(task) + _classes(task)


def _dates(task):
    return [
        task(
            "business_days", "payroll.py", "business_days",
            prompt=r'''
                from datetime import date, timedelta


                # business_days(start, end, holidays=()) counts the working days (Monday to Friday, not in
                # holidays) from start inclusive to end exclusive. Return 0 when end <= start.
            ''',
            reference=r'''
                def business_days(start, end, holidays=()):
                    skip = set(holidays)
                    count = 0
                    day = start
                    while day < end:
                        if day.weekday() < 5 and day not in skip:
                            count += 1
                        day += timedelta(days=1)
                    return count
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(date(2024, 3, 4), date(2024, 3, 11)) == 5
                    assert candidate(date(2024, 3, 9), date(2024, 3, 11)) == 0
                    assert candidate(date(2024, 12, 23), date(2025, 1, 3), holidays=[date(2024, 12, 25), date(2025, 1, 1)]) == 7
                    assert candidate(date(2024, 3, 11), date(2024, 3, 4)) == 0
                    assert candidate(date(2024, 1, 1), date(2025, 1, 1)) == 262
            ''',
        ),
        task(
            "add_months", "billing.py", "add_months",
            prompt=r'''
                import calendar
                from datetime import date


                # add_months(day, months) moves a date by a whole number of months (negative goes back). When
                # the target month is shorter, clamp to its last day: add_months(date(2024, 1, 31), 1) is
                # date(2024, 2, 29).
            ''',
            reference=r'''
                def add_months(day, months):
                    index = day.year * 12 + (day.month - 1) + months
                    year, month = divmod(index, 12)
                    month += 1
                    last = calendar.monthrange(year, month)[1]
                    return date(year, month, min(day.day, last))
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(date(2024, 1, 31), 1) == date(2024, 2, 29)
                    assert candidate(date(2023, 1, 31), 1) == date(2023, 2, 28)
                    assert candidate(date(2024, 11, 15), 3) == date(2025, 2, 15)
                    assert candidate(date(2024, 3, 31), -1) == date(2024, 2, 29)
                    assert candidate(date(2024, 1, 10), -13) == date(2022, 12, 10)
                    assert candidate(date(2024, 5, 5), 0) == date(2024, 5, 5)
            ''',
        ),
        task(
            "iso_week", "sprints.py", "week_bounds",
            prompt=r'''
                import re
                from datetime import date, timedelta


                # week_bounds(label) takes an ISO week label such as "2024-W05" and returns a tuple of the
                # Monday and Sunday dates of that week. Raise ValueError for labels not in the YYYY-Www form or
                # for weeks that do not exist in that year (e.g. "2023-W53").
            ''',
            reference=r'''
                def week_bounds(label):
                    match = re.fullmatch(r"(\d{4})-W(\d{2})", label)
                    if match is None:
                        raise ValueError(f"not an ISO week label: {label!r}")
                    monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
                    return monday, monday + timedelta(days=6)
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("2024-W05") == (date(2024, 1, 29), date(2024, 2, 4))
                    assert candidate("2020-W53") == (date(2020, 12, 28), date(2021, 1, 3))
                    assert candidate("2025-W01") == (date(2024, 12, 30), date(2025, 1, 5))
                    for bad in ["2023-W53", "2024-5", "2024-W00", "24-W05"]:
                        try:
                            candidate(bad)
                        except ValueError:
                            continue
                        raise AssertionError(f"accepted {bad!r}")
            ''',
        ),
        task(
            "age_on", "members.py", "age_on",
            prompt=r'''
                from datetime import date


                # age_on(birth, on) returns a person's age in whole years on the date `on`. Someone born on
                # 29 February has their birthday on 1 March in non-leap years. Raise ValueError if on is
                # before birth.
            ''',
            reference=r'''
                def age_on(birth, on):
                    if on < birth:
                        raise ValueError("date is before birth")
                    years = on.year - birth.year
                    birthday = (birth.month, birth.day)
                    if birthday == (2, 29) and not (on.year % 4 == 0 and (on.year % 100 != 0 or on.year % 400 == 0)):
                        birthday = (3, 1)
                    if (on.month, on.day) < birthday:
                        years -= 1
                    return years
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(date(1990, 6, 15), date(2024, 6, 14)) == 33
                    assert candidate(date(1990, 6, 15), date(2024, 6, 15)) == 34
                    assert candidate(date(2000, 2, 29), date(2023, 2, 28)) == 22
                    assert candidate(date(2000, 2, 29), date(2023, 3, 1)) == 23
                    assert candidate(date(2000, 2, 29), date(2024, 2, 29)) == 24
                    assert candidate(date(2024, 1, 1), date(2024, 1, 1)) == 0
                    try:
                        candidate(date(2024, 1, 2), date(2024, 1, 1))
                    except ValueError:
                        pass
                    else:
                        raise AssertionError("date before birth accepted")
            ''',
        ),
        task(
            "humanize_delta", "timeline.py", "humanize_delta",
            prompt=r'''
                from datetime import datetime, timedelta, timezone


                # humanize_delta(then, now) describes when `then` happened relative to `now` (both aware
                # datetimes): under 60 seconds either way is "just now"; otherwise use the largest whole unit
                # among minutes, hours and days, singular or plural: "1 minute ago", "5 hours ago",
                # "3 days ago", and for the future "in 2 hours".
            ''',
            reference=r'''
                def humanize_delta(then, now):
                    seconds = int((now - then).total_seconds())
                    if abs(seconds) < 60:
                        return "just now"
                    magnitude = abs(seconds)
                    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
                        if magnitude >= size:
                            count = magnitude // size
                            break
                    label = f"{count} {unit}" + ("s" if count != 1 else "")
                    return f"{label} ago" if seconds > 0 else f"in {label}"
            ''',
            tests=r'''
                def check(candidate):
                    now = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
                    assert candidate(now - timedelta(seconds=59), now) == "just now"
                    assert candidate(now + timedelta(seconds=30), now) == "just now"
                    assert candidate(now - timedelta(seconds=60), now) == "1 minute ago"
                    assert candidate(now - timedelta(hours=5, minutes=59), now) == "5 hours ago"
                    assert candidate(now - timedelta(days=3, hours=23), now) == "3 days ago"
                    assert candidate(now + timedelta(hours=2, minutes=1), now) == "in 2 hours"
                    other_zone = timezone(timedelta(hours=2))
                    assert candidate(datetime(2024, 6, 1, 13, 0, tzinfo=other_zone), now) == "1 hour ago"
            ''',
        ),
        task(
            "to_utc", "events.py", "to_utc_iso",
            prompt=r'''
                import re
                from datetime import datetime, timedelta, timezone


                # to_utc_iso(local, offset) converts a local wall-clock time "YYYY-MM-DD HH:MM" recorded at a
                # UTC offset such as "+02:00" or "-05:30" into an ISO 8601 UTC string ending in "Z", e.g.
                # to_utc_iso("2024-03-05 14:30", "+02:00") == "2024-03-05T12:30:00Z". Bad input raises ValueError.
            ''',
            reference=r'''
                def to_utc_iso(local, offset):
                    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", offset)
                    if match is None:
                        raise ValueError(f"bad UTC offset: {offset!r}")
                    sign = 1 if match.group(1) == "+" else -1
                    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
                    moment = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=timezone(sign * delta))
                    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("2024-03-05 14:30", "+02:00") == "2024-03-05T12:30:00Z"
                    assert candidate("2024-12-31 22:00", "-05:30") == "2025-01-01T03:30:00Z"
                    assert candidate("2024-01-01 00:15", "+01:00") == "2023-12-31T23:15:00Z"
                    assert candidate("2024-07-01 09:00", "+00:00") == "2024-07-01T09:00:00Z"
                    for args in [("2024-03-05 14:30", "2:00"), ("2024-03-05", "+02:00"), ("yesterday", "+01:00")]:
                        try:
                            candidate(*args)
                        except ValueError:
                            continue
                        raise AssertionError(f"accepted {args!r}")
            ''',
        ),
        task(
            "month_ranges", "invoices.py", "month_ranges",
            prompt=r'''
                from datetime import date, timedelta


                # month_ranges(start, end) splits the inclusive period start..end into calendar-month pieces
                # for invoicing: a list of (first_day, last_day) tuples, the first piece starting at start and
                # the last ending at end. An empty list when end is before start.
            ''',
            reference=r'''
                def month_ranges(start, end):
                    pieces = []
                    first = start
                    while first <= end:
                        next_month = date(first.year + first.month // 12, first.month % 12 + 1, 1)
                        last = min(next_month - timedelta(days=1), end)
                        pieces.append((first, last))
                        first = next_month
                    return pieces
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(date(2024, 1, 15), date(2024, 3, 10)) == [
                        (date(2024, 1, 15), date(2024, 1, 31)),
                        (date(2024, 2, 1), date(2024, 2, 29)),
                        (date(2024, 3, 1), date(2024, 3, 10)),
                    ]
                    assert candidate(date(2024, 12, 20), date(2025, 1, 2)) == [
                        (date(2024, 12, 20), date(2024, 12, 31)), (date(2025, 1, 1), date(2025, 1, 2)),
                    ]
                    assert candidate(date(2024, 5, 5), date(2024, 5, 5)) == [(date(2024, 5, 5), date(2024, 5, 5))]
                    assert candidate(date(2024, 5, 6), date(2024, 5, 5)) == []
            ''',
        ),
        task(
            "next_weekday", "reminders.py", "next_weekday",
            prompt=r'''
                from datetime import date, timedelta

                WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


                # next_weekday(day, name) returns the first date strictly after `day` that falls on the weekday
                # called `name` (any letter case, e.g. "Friday"). Unknown names raise ValueError.
            ''',
            reference=r'''
                def next_weekday(day, name):
                    try:
                        target = WEEKDAYS.index(name.lower())
                    except ValueError:
                        raise ValueError(f"unknown weekday: {name!r}") from None
                    ahead = (target - day.weekday() - 1) % 7 + 1
                    return day + timedelta(days=ahead)
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(date(2024, 3, 6), "friday") == date(2024, 3, 8)
                    assert candidate(date(2024, 3, 8), "Friday") == date(2024, 3, 15)
                    assert candidate(date(2024, 12, 31), "MONDAY") == date(2025, 1, 6)
                    assert candidate(date(2024, 3, 9), "sunday") == date(2024, 3, 10)
                    try:
                        candidate(date(2024, 3, 6), "funday")
                    except ValueError:
                        pass
                    else:
                        raise AssertionError("unknown weekday accepted")
            ''',
        ),
    ]


def _files(task):
    return [
        task(
            "lines_by_extension", "repo_stats.py", "lines_by_extension",
            prompt=r'''
                import os
                from collections import Counter
                from pathlib import Path


                # lines_by_extension(root) walks the directory tree under root and returns a dict mapping each
                # file extension (lowercase, with the dot, "" for files without one) to the total number of
                # lines in those files. Skip directories whose name starts with ".". Read files as UTF-8,
                # replacing undecodable bytes.
            ''',
            reference=r'''
                def lines_by_extension(root):
                    totals = Counter()
                    for directory, subdirs, files in os.walk(root):
                        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
                        for name in files:
                            path = Path(directory) / name
                            with open(path, encoding="utf-8", errors="replace") as fh:
                                totals[path.suffix.lower()] += sum(1 for _ in fh)
                    return dict(totals)
            ''',
            tests=r'''
                import tempfile


                def check(candidate):
                    with tempfile.TemporaryDirectory() as tmp:
                        root = Path(tmp)
                        (root / "pkg").mkdir()
                        (root / ".git").mkdir()
                        (root / "a.py").write_text("x = 1\ny = 2\n")
                        (root / "pkg" / "b.PY").write_text("print()\n")
                        (root / "pkg" / "notes.md").write_text("# t\n\ntext")
                        (root / "Makefile").write_text("all:\n")
                        (root / ".git" / "config").write_text("1\n2\n3\n")
                        (root / "blob.bin").write_bytes(b"\xff\xfe\n\x00")
                        assert candidate(root) == {".py": 3, ".md": 3, "": 1, ".bin": 2}
                        assert candidate(str(root / "pkg")) == {".py": 1, ".md": 3}
            ''',
        ),
        task(
            "atomic_write_json", "state_store.py", "atomic_write_json",
            prompt=r'''
                import json
                import os
                import tempfile
                from pathlib import Path


                # atomic_write_json(path, data) saves data as indented JSON (2 spaces, sorted keys) so that a
                # reader never sees a half-written file: write to a temporary file in the same directory,
                # flush and fsync it, then os.replace it over path. If serialising fails, leave any existing
                # file untouched and remove the temporary file before re-raising.
            ''',
            reference=r'''
                def atomic_write_json(path, data):
                    path = Path(path)
                    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                    try:
                        with os.fdopen(fd, "w", encoding="utf-8") as fh:
                            json.dump(data, fh, indent=2, sort_keys=True)
                            fh.flush()
                            os.fsync(fh.fileno())
                        os.replace(tmp_name, path)
                    except BaseException:
                        if os.path.exists(tmp_name):
                            os.unlink(tmp_name)
                        raise
            ''',
            tests=r'''
                def check(candidate):
                    with tempfile.TemporaryDirectory() as tmp:
                        target = Path(tmp) / "state.json"
                        candidate(target, {"b": 1, "a": [1, 2]})
                        assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
                        assert target.read_text().startswith('{\n  "a"')
                        candidate(str(target), {"v": 2})
                        assert json.loads(target.read_text()) == {"v": 2}
                        try:
                            candidate(target, {"bad": object()})
                        except TypeError:
                            pass
                        else:
                            raise AssertionError("unserialisable data accepted")
                        assert json.loads(target.read_text()) == {"v": 2}
                        assert sorted(p.name for p in Path(tmp).iterdir()) == ["state.json"]
            ''',
        ),
        task(
            "find_duplicates", "dedupe_files.py", "find_duplicates",
            prompt=r'''
                import hashlib
                from collections import defaultdict
                from pathlib import Path


                # find_duplicates(root) finds files under root (recursively) with identical content. Return a
                # list of groups, each a sorted list of paths relative to root (as POSIX strings), containing
                # only groups of two or more files; sort the groups by their first path. Hash file contents
                # in chunks rather than reading whole files into memory.
            ''',
            reference=r'''
                def _digest(path):
                    hasher = hashlib.sha256()
                    with open(path, "rb") as fh:
                        for block in iter(lambda: fh.read(65536), b""):
                            hasher.update(block)
                    return hasher.hexdigest()


                def find_duplicates(root):
                    root = Path(root)
                    by_digest = defaultdict(list)
                    for path in root.rglob("*"):
                        if path.is_file():
                            by_digest[_digest(path)].append(path.relative_to(root).as_posix())
                    groups = [sorted(paths) for paths in by_digest.values() if len(paths) > 1]
                    return sorted(groups, key=lambda group: group[0])
            ''',
            tests=r'''
                import tempfile


                def check(candidate):
                    with tempfile.TemporaryDirectory() as tmp:
                        root = Path(tmp)
                        (root / "sub").mkdir()
                        (root / "a.txt").write_text("same")
                        (root / "sub" / "b.txt").write_text("same")
                        (root / "c.txt").write_text("other")
                        (root / "d.txt").write_text("")
                        (root / "sub" / "e.txt").write_text("")
                        (root / "big1").write_bytes(b"x" * 200_000)
                        (root / "big2").write_bytes(b"x" * 200_000)
                        assert candidate(root) == [["a.txt", "sub/b.txt"], ["big1", "big2"], ["d.txt", "sub/e.txt"]]
                        assert candidate(root / "sub") == []
            ''',
        ),
        task(
            "tail", "logview.py", "tail",
            prompt=r'''
                import os


                # tail(path, n) returns the last n lines of a text file as a list of strings without their line
                # endings, like `tail -n`. A final line without a newline counts as a line. Read the file
                # backwards in blocks so that huge log files are not loaded into memory. n == 0 gives [].
            ''',
            reference=r'''
                def tail(path, n, block_size=4096):
                    if n <= 0:
                        return []
                    with open(path, "rb") as fh:
                        fh.seek(0, os.SEEK_END)
                        position = fh.tell()
                        data = b""
                        while position > 0 and data.count(b"\n") <= n:
                            step = min(block_size, position)
                            position -= step
                            fh.seek(position)
                            data = fh.read(step) + data
                    lines = data.decode("utf-8").splitlines()
                    return lines[-n:]
            ''',
            tests=r'''
                import tempfile
                from pathlib import Path


                def check(candidate):
                    with tempfile.TemporaryDirectory() as tmp:
                        path = Path(tmp) / "app.log"
                        path.write_text("".join(f"line {i}\n" for i in range(10000)))
                        assert candidate(path, 3) == ["line 9997", "line 9998", "line 9999"]
                        assert candidate(str(path), 1) == ["line 9999"]
                        assert candidate(path, 0) == []
                        path.write_text("one\ntwo\nthree")
                        assert candidate(path, 2) == ["two", "three"]
                        assert candidate(path, 10) == ["one", "two", "three"]
                        path.write_text("")
                        assert candidate(path, 5) == []
            ''',
        ),
        task(
            "merge_csv", "exports.py", "merge_csv_files",
            prompt=r'''
                import csv
                from pathlib import Path


                # merge_csv_files(paths, out_path) concatenates CSV files that share the same header row into
                # out_path, writing the header once, and returns the number of data rows written. Raise
                # ValueError naming the offending file if a header differs from the first file's. Files may
                # contain quoted fields with commas and newlines.
            ''',
            reference=r'''
                def merge_csv_files(paths, out_path):
                    header = None
                    rows = 0
                    with open(out_path, "w", newline="", encoding="utf-8") as out:
                        writer = csv.writer(out)
                        for path in paths:
                            with open(path, newline="", encoding="utf-8") as fh:
                                reader = csv.reader(fh)
                                this_header = next(reader, None)
                                if header is None:
                                    header = this_header
                                    writer.writerow(header)
                                elif this_header != header:
                                    raise ValueError(f"{path}: header {this_header} differs from {header}")
                                for row in reader:
                                    writer.writerow(row)
                                    rows += 1
                    return rows
            ''',
            tests=r'''
                import tempfile


                def check(candidate):
                    with tempfile.TemporaryDirectory() as tmp:
                        root = Path(tmp)
                        (root / "a.csv").write_text('id,note\n1,"hello, world"\n2,plain\n')
                        (root / "b.csv").write_text('id,note\n3,"two\nlines"\n')
                        (root / "c.csv").write_text("id,comment\n4,x\n")
                        out = root / "out.csv"
                        assert candidate([root / "a.csv", root / "b.csv"], out) == 3
                        with open(out, newline="") as fh:
                            assert list(csv.reader(fh)) == [
                                ["id", "note"], ["1", "hello, world"], ["2", "plain"], ["3", "two\nlines"],
                            ]
                        try:
                            candidate([root / "a.csv", root / "c.csv"], root / "out2.csv")
                        except ValueError as exc:
                            assert "c.csv" in str(exc)
                        else:
                            raise AssertionError("different header accepted")
            ''',
        ),
        task(
            "rotate_logs", "logrotate.py", "rotate",
            prompt=r'''
                import os
                from pathlib import Path


                # rotate(path, keep) rotates a log file like logrotate: app.log becomes app.log.1, the old
                # app.log.1 becomes app.log.2, and so on; at most `keep` rotated files remain (the oldest is
                # deleted). Afterwards an empty app.log exists. A missing app.log just creates the empty file.
                # keep must be at least 1, otherwise ValueError.
            ''',
            reference=r'''
                def rotate(path, keep):
                    if keep < 1:
                        raise ValueError("keep must be at least 1")
                    path = Path(path)
                    oldest = path.with_name(f"{path.name}.{keep}")
                    if oldest.exists():
                        oldest.unlink()
                    for index in range(keep - 1, 0, -1):
                        older = path.with_name(f"{path.name}.{index}")
                        if older.exists():
                            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
                    if path.exists():
                        os.replace(path, path.with_name(f"{path.name}.1"))
                    path.touch()
            ''',
            tests=r'''
                import tempfile


                def check(candidate):
                    with tempfile.TemporaryDirectory() as tmp:
                        log = Path(tmp) / "app.log"
                        candidate(log, 2)
                        assert log.read_text() == ""
                        for generation in ["first", "second", "third"]:
                            log.write_text(generation)
                            candidate(str(log), 2)
                        names = sorted(p.name for p in Path(tmp).iterdir())
                        assert names == ["app.log", "app.log.1", "app.log.2"]
                        assert (Path(tmp) / "app.log.1").read_text() == "third"
                        assert (Path(tmp) / "app.log.2").read_text() == "second"
                        assert log.read_text() == ""
                        try:
                            candidate(log, 0)
                        except ValueError:
                            pass
                        else:
                            raise AssertionError("keep=0 accepted")
            ''',
        ),
    ]


def _classes(task):
    return [
        task(
            "lru_cache", "cache.py", "LRUCache",
            prompt=r'''
                from collections import OrderedDict


                # class LRUCache: a fixed-capacity cache. LRUCache(capacity) (capacity >= 1, else ValueError);
                # get(key, default=None) returns the value and marks the key as recently used; put(key, value)
                # inserts or updates and, when over capacity, evicts the least recently used key; len(cache)
                # and `key in cache` work (the `in` check does not count as a use).
            ''',
            reference=r'''
                class LRUCache:
                    def __init__(self, capacity):
                        if capacity < 1:
                            raise ValueError("capacity must be at least 1")
                        self.capacity = capacity
                        self._items = OrderedDict()

                    def get(self, key, default=None):
                        if key not in self._items:
                            return default
                        self._items.move_to_end(key)
                        return self._items[key]

                    def put(self, key, value):
                        self._items[key] = value
                        self._items.move_to_end(key)
                        while len(self._items) > self.capacity:
                            self._items.popitem(last=False)

                    def __len__(self):
                        return len(self._items)

                    def __contains__(self, key):
                        return key in self._items
            ''',
            tests=r'''
                def check(candidate):
                    cache = candidate(2)
                    cache.put("a", 1)
                    cache.put("b", 2)
                    assert cache.get("a") == 1
                    cache.put("c", 3)
                    assert "b" not in cache and "a" in cache and "c" in cache
                    assert "a" in cache
                    cache.put("d", 4)
                    assert "a" not in cache
                    cache.put("c", 30)
                    assert cache.get("c") == 30 and len(cache) == 2
                    assert cache.get("zzz", "none") == "none"
                    try:
                        candidate(0)
                    except ValueError:
                        pass
                    else:
                        raise AssertionError("capacity 0 accepted")
            ''',
        ),
        task(
            "token_bucket", "ratelimit.py", "TokenBucket",
            prompt=r'''
                import time
                from typing import Callable


                # class TokenBucket(capacity, refill_per_second, clock=time.monotonic): a rate limiter. It
                # starts full with `capacity` tokens and gains refill_per_second tokens per second of `clock`
                # time, never more than capacity. allow(cost=1) takes `cost` tokens and returns True if enough
                # are available, otherwise takes nothing and returns False. `tokens` is a read-only property
                # giving the current (float) number of tokens.
            ''',
            reference=r'''
                class TokenBucket:
                    def __init__(self, capacity: float, refill_per_second: float,
                                 clock: Callable[[], float] = time.monotonic) -> None:
                        self.capacity = capacity
                        self.refill_per_second = refill_per_second
                        self._clock = clock
                        self._tokens = float(capacity)
                        self._last = clock()

                    def _refill(self) -> None:
                        now = self._clock()
                        elapsed = max(0.0, now - self._last)
                        self._last = now
                        self._tokens = min(self.capacity, self._tokens + elapsed * self.refill_per_second)

                    @property
                    def tokens(self) -> float:
                        self._refill()
                        return self._tokens

                    def allow(self, cost: float = 1) -> bool:
                        self._refill()
                        if self._tokens >= cost:
                            self._tokens -= cost
                            return True
                        return False
            ''',
            tests=r'''
                class FakeClock:
                    def __init__(self):
                        self.now = 100.0

                    def __call__(self):
                        return self.now


                def check(candidate):
                    clock = FakeClock()
                    bucket = candidate(3, 0.5, clock=clock)
                    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
                    clock.now += 1
                    assert not bucket.allow()
                    clock.now += 1
                    assert bucket.allow()
                    clock.now += 100
                    assert bucket.tokens == 3
                    assert not bucket.allow(cost=4)
                    assert bucket.allow(cost=2.5) and abs(bucket.tokens - 0.5) < 1e-9
                    try:
                        bucket.tokens = 10
                    except AttributeError:
                        pass
                    else:
                        raise AssertionError("tokens is writable")
            ''',
        ),
        task(
            "money", "money.py", "Money",
            prompt=r'''
                from __future__ import annotations

                from dataclasses import dataclass


                class CurrencyMismatch(ValueError):
                    """Arithmetic between amounts in different currencies."""


                # A frozen dataclass Money(cents: int, currency: str) for prices. Support m1 + m2 and m1 - m2
                # (same currency only, else CurrencyMismatch), m * int, and split(parts) which divides the
                # amount into `parts` Money values that differ by at most one cent, sum to the original, with
                # the larger shares first. str(Money(1234, "EUR")) is "12.34 EUR" (negative: "-0.05 EUR").
            ''',
            reference=r'''
                @dataclass(frozen=True)
                class Money:
                    cents: int
                    currency: str

                    def _same(self, other: Money) -> None:
                        if other.currency != self.currency:
                            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

                    def __add__(self, other: Money) -> Money:
                        self._same(other)
                        return Money(self.cents + other.cents, self.currency)

                    def __sub__(self, other: Money) -> Money:
                        self._same(other)
                        return Money(self.cents - other.cents, self.currency)

                    def __mul__(self, factor: int) -> Money:
                        return Money(self.cents * factor, self.currency)

                    def split(self, parts: int) -> list[Money]:
                        if parts < 1:
                            raise ValueError("parts must be at least 1")
                        base, extra = divmod(self.cents, parts)
                        return [Money(base + (1 if i < extra else 0), self.currency) for i in range(parts)]

                    def __str__(self) -> str:
                        sign = "-" if self.cents < 0 else ""
                        whole, cents = divmod(abs(self.cents), 100)
                        return f"{sign}{whole}.{cents:02d} {self.currency}"
            ''',
            tests=r'''
                def check(candidate):
                    a, b = candidate(1000, "EUR"), candidate(250, "EUR")
                    assert a + b == candidate(1250, "EUR")
                    assert b - a == candidate(-750, "EUR")
                    assert b * 3 == candidate(750, "EUR")
                    assert str(candidate(1234, "EUR")) == "12.34 EUR"
                    assert str(candidate(-5, "EUR")) == "-0.05 EUR"
                    assert candidate(100, "USD").split(3) == [candidate(34, "USD"), candidate(33, "USD"), candidate(33, "USD")]
                    assert sum(m.cents for m in candidate(1001, "USD").split(7)) == 1001
                    try:
                        a + candidate(1, "USD")
                    except CurrencyMismatch:
                        pass
                    else:
                        raise AssertionError("mixed currencies added")
                    try:
                        a.cents = 5
                    except AttributeError:
                        pass
                    else:
                        raise AssertionError("Money is mutable")
            ''',
        ),
        task(
            "event_emitter", "events_bus.py", "EventEmitter",
            prompt=r'''
                from collections import defaultdict
                from typing import Any, Callable

                Handler = Callable[..., Any]


                # class EventEmitter: on(event, handler) registers a handler and returns a function that
                # unregisters it; once(event, handler) registers a handler that runs only for the next emit;
                # emit(event, *args, **kwargs) calls the event's handlers in registration order and returns how
                # many ran. A handler may unregister itself while the event is being emitted.
            ''',
            reference=r'''
                class EventEmitter:
                    def __init__(self) -> None:
                        self._handlers: dict[str, list[Handler]] = defaultdict(list)

                    def on(self, event: str, handler: Handler) -> Callable[[], None]:
                        self._handlers[event].append(handler)

                        def off() -> None:
                            if handler in self._handlers[event]:
                                self._handlers[event].remove(handler)

                        return off

                    def once(self, event: str, handler: Handler) -> Callable[[], None]:
                        def wrapper(*args: Any, **kwargs: Any) -> Any:
                            off()
                            return handler(*args, **kwargs)

                        off = self.on(event, wrapper)
                        return off

                    def emit(self, event: str, *args: Any, **kwargs: Any) -> int:
                        handlers = list(self._handlers.get(event, ()))
                        for handler in handlers:
                            handler(*args, **kwargs)
                        return len(handlers)
            ''',
            tests=r'''
                def check(candidate):
                    bus = candidate()
                    seen = []
                    off = bus.on("saved", lambda name: seen.append(("a", name)))
                    bus.once("saved", lambda name: seen.append(("once", name)))
                    bus.on("saved", lambda name, **kw: seen.append(("b", name, kw)))
                    assert bus.emit("saved", "x") == 3
                    assert seen == [("a", "x"), ("once", "x"), ("b", "x", {})]
                    assert bus.emit("saved", "y") == 2
                    off()
                    assert bus.emit("saved", "z") == 1
                    assert seen[-1] == ("b", "z", {})
                    assert bus.emit("nothing") == 0

                    bus2 = candidate()
                    calls = []

                    def self_removing():
                        calls.append(1)
                        remove()

                    remove = bus2.on("tick", self_removing)
                    bus2.on("tick", lambda: calls.append(2))
                    bus2.emit("tick")
                    bus2.emit("tick")
                    assert calls == [1, 2, 2]
            ''',
        ),
        task(
            "trie", "autocomplete.py", "Trie",
            prompt=r'''
                from __future__ import annotations

                from dataclasses import dataclass, field


                @dataclass
                class _Node:
                    children: dict[str, _Node] = field(default_factory=dict)
                    terminal: bool = False


                # class Trie for autocompletion, built on _Node: insert(word); contains(word) -> bool;
                # complete(prefix, limit=10) -> up to `limit` stored words starting with prefix, in
                # alphabetical order; len(trie) is the number of distinct words inserted.
            ''',
            reference=r'''
                class Trie:
                    def __init__(self) -> None:
                        self._root = _Node()
                        self._count = 0

                    def insert(self, word: str) -> None:
                        node = self._root
                        for ch in word:
                            node = node.children.setdefault(ch, _Node())
                        if not node.terminal:
                            node.terminal = True
                            self._count += 1

                    def _find(self, prefix: str) -> _Node | None:
                        node = self._root
                        for ch in prefix:
                            node = node.children.get(ch)
                            if node is None:
                                return None
                        return node

                    def contains(self, word: str) -> bool:
                        node = self._find(word)
                        return node is not None and node.terminal

                    def complete(self, prefix: str, limit: int = 10) -> list[str]:
                        start = self._find(prefix)
                        out: list[str] = []

                        def walk(node: _Node, text: str) -> None:
                            if len(out) >= limit:
                                return
                            if node.terminal:
                                out.append(text)
                            for ch in sorted(node.children):
                                walk(node.children[ch], text + ch)

                        if start is not None:
                            walk(start, prefix)
                        return out[:limit]

                    def __len__(self) -> int:
                        return self._count
            ''',
            tests=r'''
                def check(candidate):
                    trie = candidate()
                    for word in ["car", "cart", "care", "cat", "dog", "car"]:
                        trie.insert(word)
                    assert len(trie) == 5
                    assert trie.contains("car") and not trie.contains("ca")
                    assert trie.complete("car") == ["car", "care", "cart"]
                    assert trie.complete("ca", limit=2) == ["car", "care"]
                    assert trie.complete("x") == []
                    assert trie.complete("") == ["car", "care", "cart", "cat", "dog"]
            ''',
        ),
        task(
            "shapes", "geometry.py", "Rectangle",
            prompt=r'''
                import math
                from abc import ABC, abstractmethod


                class Shape(ABC):
                    @abstractmethod
                    def area(self) -> float: ...

                    @abstractmethod
                    def perimeter(self) -> float: ...

                    def describe(self) -> str:
                        return f"{type(self).__name__} with area {self.area():.2f}"


                class Circle(Shape):
                    def __init__(self, radius: float) -> None:
                        self.radius = radius

                    def area(self) -> float:
                        return math.pi * self.radius ** 2

                    def perimeter(self) -> float:
                        return 2 * math.pi * self.radius


                # Add a Rectangle(width, height) Shape like Circle. Non-positive sides raise ValueError. Add
                # is_square() and a classmethod square(side). Two rectangles compare equal when they have the
                # same width and height.
            ''',
            reference=r'''
                class Rectangle(Shape):
                    def __init__(self, width: float, height: float) -> None:
                        if width <= 0 or height <= 0:
                            raise ValueError("sides must be positive")
                        self.width = width
                        self.height = height

                    @classmethod
                    def square(cls, side: float) -> "Rectangle":
                        return cls(side, side)

                    def area(self) -> float:
                        return self.width * self.height

                    def perimeter(self) -> float:
                        return 2 * (self.width + self.height)

                    def is_square(self) -> bool:
                        return self.width == self.height

                    def __eq__(self, other: object) -> bool:
                        if not isinstance(other, Rectangle):
                            return NotImplemented
                        return (self.width, self.height) == (other.width, other.height)

                    def __hash__(self) -> int:
                        return hash((self.width, self.height))
            ''',
            tests=r'''
                def check(candidate):
                    r = candidate(3, 4)
                    assert isinstance(r, Shape)
                    assert r.area() == 12 and r.perimeter() == 14
                    assert r.describe() == "Rectangle with area 12.00"
                    assert not r.is_square()
                    sq = candidate.square(2.5)
                    assert isinstance(sq, candidate) and sq.is_square() and sq.area() == 6.25
                    assert candidate(3, 4) == candidate(3, 4) and candidate(3, 4) != candidate(4, 3)
                    for sides in [(0, 1), (1, -2)]:
                        try:
                            candidate(*sides)
                        except ValueError:
                            continue
                        raise AssertionError(f"accepted sides {sides}")
            ''',
        ),
        task(
            "ring_buffer", "telemetry.py", "RingBuffer",
            prompt=r'''
                from typing import Generic, Iterator, TypeVar

                T = TypeVar("T")


                # class RingBuffer(capacity): keeps the most recent `capacity` items. append(item) adds one,
                # overwriting the oldest when full; iterating yields items oldest first; len() is the number
                # held; latest() returns the newest item or raises IndexError when empty; clear() empties it.
            ''',
            reference=r'''
                class RingBuffer(Generic[T]):
                    def __init__(self, capacity: int) -> None:
                        if capacity < 1:
                            raise ValueError("capacity must be at least 1")
                        self._slots: list[T | None] = [None] * capacity
                        self._start = 0
                        self._size = 0

                    def append(self, item: T) -> None:
                        capacity = len(self._slots)
                        end = (self._start + self._size) % capacity
                        self._slots[end] = item
                        if self._size < capacity:
                            self._size += 1
                        else:
                            self._start = (self._start + 1) % capacity

                    def __iter__(self) -> Iterator[T]:
                        for offset in range(self._size):
                            yield self._slots[(self._start + offset) % len(self._slots)]

                    def __len__(self) -> int:
                        return self._size

                    def latest(self) -> T:
                        if not self._size:
                            raise IndexError("buffer is empty")
                        return self._slots[(self._start + self._size - 1) % len(self._slots)]

                    def clear(self) -> None:
                        self._slots = [None] * len(self._slots)
                        self._start = 0
                        self._size = 0
            ''',
            tests=r'''
                def check(candidate):
                    buf = candidate(3)
                    assert len(buf) == 0 and list(buf) == []
                    try:
                        buf.latest()
                    except IndexError:
                        pass
                    else:
                        raise AssertionError("latest() on empty buffer")
                    for i in range(5):
                        buf.append(i)
                    assert list(buf) == [2, 3, 4] and len(buf) == 3 and buf.latest() == 4
                    buf.clear()
                    buf.append("x")
                    assert list(buf) == ["x"] and buf.latest() == "x"
            ''',
        ),
    ]
