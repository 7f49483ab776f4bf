"""instruct_python tasks, part A: string and data handling, parsing, small algorithms."""

# ruff: noqa: E501


def tasks(task):
    """The tasks of this part, built with the `task` row constructor."""
    return [
        task(
            "slugify", "text_utils.py", "slugify",
            prompt=r'''
                import re
                import unicodedata


                # Turn an article title into a URL slug: strip accents (so "Crème" becomes "creme"),
                # lowercase it, replace every run of characters that are not ASCII letters or digits
                # with a single hyphen, and drop hyphens at either end. Call it slugify(title).
            ''',
            reference=r'''
                def slugify(title):
                    normalized = unicodedata.normalize("NFKD", title)
                    ascii_only = normalized.encode("ascii", "ignore").decode("ascii")
                    return re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("Hello, World!") == "hello-world"
                    assert candidate("  Crème brûlée: a recipe  ") == "creme-brulee-a-recipe"
                    assert candidate("Python 3.12 -- what's new?") == "python-3-12-what-s-new"
                    assert candidate("---") == ""
                    assert candidate("already-a-slug") == "already-a-slug"
            ''',
        ),
        task(
            "truncate_words", "text_utils.py", "truncate_words",
            prompt=r'''
                ELLIPSIS = "..."


                # truncate_words(text, max_chars): shorten text to at most max_chars characters
                # without cutting a word in half. When the text has to be cut, keep as many whole
                # words as fit together with ELLIPSIS appended (the ellipsis counts toward max_chars).
                # Text that already fits is returned unchanged; collapse no whitespace in that case.
            ''',
            reference=r'''
                def truncate_words(text, max_chars):
                    if len(text) <= max_chars:
                        return text
                    budget = max_chars - len(ELLIPSIS)
                    kept = ""
                    for word in text.split():
                        candidate = f"{kept} {word}" if kept else word
                        if len(candidate) > budget:
                            break
                        kept = candidate
                    return kept + ELLIPSIS
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("short", 10) == "short"
                    assert candidate("the quick brown fox jumps", 15) == "the quick..."
                    assert candidate("the quick brown fox jumps", 16) == "the quick..."
                    assert candidate("the quick brown fox jumps", 19) == "the quick brown..."
                    assert candidate("supercalifragilistic word", 10) == "..."
                    out = candidate("a b c d e f g h", 9)
                    assert len(out) <= 9 and out.endswith("...")
            ''',
        ),
        task(
            "mask_email", "privacy.py", "mask_email",
            prompt=r'''
                # mask_email(address) hides the local part of an e-mail address for logs: keep its
                # first character, replace the rest with exactly three asterisks, keep the domain.
                # A local part of one character becomes that character plus "***" as well.
                # Raise ValueError if the address does not contain exactly one "@" or either side is empty.
            ''',
            reference=r'''
                def mask_email(address):
                    if address.count("@") != 1:
                        raise ValueError(f"not an e-mail address: {address!r}")
                    local, domain = address.split("@")
                    if not local or not domain:
                        raise ValueError(f"not an e-mail address: {address!r}")
                    return f"{local[0]}***@{domain}"
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("jane.doe@example.com") == "j***@example.com"
                    assert candidate("x@y.org") == "x***@y.org"
                    for bad in ["no-at-sign", "a@b@c", "@example.com", "name@"]:
                        try:
                            candidate(bad)
                        except ValueError:
                            pass
                        else:
                            raise AssertionError(f"accepted {bad!r}")
            ''',
        ),
        task(
            "camel_to_snake", "naming.py", "camel_to_snake",
            prompt=r'''
                import re


                # Convert a CamelCase or camelCase identifier to snake_case. Acronyms stay together:
                # "HTTPServerError" -> "http_server_error", "parseJSONResponse" -> "parse_json_response",
                # "userID2Name" -> "user_id2_name". Names already in snake_case are returned unchanged.
            ''',
            reference=r'''
                def camel_to_snake(name):
                    step = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
                    step = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", step)
                    return step.lower()
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("HTTPServerError") == "http_server_error"
                    assert candidate("parseJSONResponse") == "parse_json_response"
                    assert candidate("userID2Name") == "user_id2_name"
                    assert candidate("simple") == "simple"
                    assert candidate("already_snake") == "already_snake"
                    assert candidate("CamelCase") == "camel_case"
            ''',
        ),
        task(
            "group_by", "records.py", "group_by",
            prompt=r'''
                from collections import defaultdict

                orders = [
                    {"id": 1, "customer": "ana", "total": 30},
                    {"id": 2, "customer": "ben", "total": 12},
                    {"id": 3, "customer": "ana", "total": 7},
                ]


                # group_by(rows, key) returns a plain dict mapping each distinct value of row[key] to the
                # list of rows having it. Keys appear in order of first appearance and rows keep their
                # input order. Rows that lack the key are grouped under None.
            ''',
            reference=r'''
                def group_by(rows, key):
                    groups = defaultdict(list)
                    for row in rows:
                        groups[row.get(key)].append(row)
                    return dict(groups)
            ''',
            tests=r'''
                def check(candidate):
                    out = candidate(orders, "customer")
                    assert list(out) == ["ana", "ben"]
                    assert [r["id"] for r in out["ana"]] == [1, 3]
                    assert type(out) is dict
                    assert candidate([], "x") == {}
                    out = candidate([{"a": 1}, {"b": 2}, {"a": 1}], "a")
                    assert out == {1: [{"a": 1}, {"a": 1}], None: [{"b": 2}]}
            ''',
        ),
        task(
            "flatten_dict", "settings.py", "flatten_dict",
            prompt=r'''
                # Write flatten_dict(nested, sep=".") that flattens nested dictionaries into one level,
                # joining keys with sep: {"db": {"host": "x", "port": 5432}} -> {"db.host": "x", "db.port": 5432}.
                # Lists and other values are kept as they are; an empty nested dict disappears.
            ''',
            reference=r'''
                def flatten_dict(nested, sep="."):
                    flat = {}

                    def walk(prefix, value):
                        if isinstance(value, dict):
                            for key, child in value.items():
                                walk(f"{prefix}{sep}{key}" if prefix else str(key), child)
                        else:
                            flat[prefix] = value

                    for key, value in nested.items():
                        walk(str(key), value)
                    return flat
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate({"db": {"host": "x", "port": 5432}}) == {"db.host": "x", "db.port": 5432}
                    assert candidate({"a": {"b": {"c": 1}}, "d": [1, 2]}) == {"a.b.c": 1, "d": [1, 2]}
                    assert candidate({"a": {"b": 1}}, sep="/") == {"a/b": 1}
                    assert candidate({"a": {}, "b": 2}) == {"b": 2}
                    assert candidate({}) == {}
            ''',
        ),
        task(
            "dedupe", "collections_utils.py", "dedupe",
            prompt=r'''
                from typing import Callable, Hashable, Iterable, TypeVar

                T = TypeVar("T")


                # dedupe(items, key=None): return a list of the items without duplicates, keeping the first
                # occurrence and the original order. If key is given, two items are duplicates when key(item)
                # is equal. Works for any iterable, including generators.
            ''',
            reference=r'''
                def dedupe(items: Iterable[T], key: Callable[[T], Hashable] | None = None) -> list[T]:
                    seen = set()
                    out = []
                    for item in items:
                        marker = key(item) if key is not None else item
                        if marker in seen:
                            continue
                        seen.add(marker)
                        out.append(item)
                    return out
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate([3, 1, 3, 2, 1]) == [3, 1, 2]
                    assert candidate(x for x in "abracadabra") == ["a", "b", "r", "c", "d"]
                    assert candidate(["Ana", "ana", "Ben"], key=str.lower) == ["Ana", "Ben"]
                    assert candidate([]) == []
            ''',
        ),
        task(
            "chunked", "batching.py", "chunked",
            prompt=r'''
                # chunked(iterable, size): split any iterable into consecutive lists of `size` items; the last
                # list may be shorter. Raise ValueError when size is smaller than 1.
                # Example: chunked(range(5), 2) -> [[0, 1], [2, 3], [4]]
            ''',
            reference=r'''
                def chunked(iterable, size):
                    if size < 1:
                        raise ValueError("size must be at least 1")
                    chunks, current = [], []
                    for item in iterable:
                        current.append(item)
                        if len(current) == size:
                            chunks.append(current)
                            current = []
                    if current:
                        chunks.append(current)
                    return chunks
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(range(5), 2) == [[0, 1], [2, 3], [4]]
                    assert candidate("abcdef", 3) == [["a", "b", "c"], ["d", "e", "f"]]
                    assert candidate([], 4) == []
                    assert candidate(iter([1]), 10) == [[1]]
                    try:
                        candidate([1, 2], 0)
                    except ValueError:
                        pass
                    else:
                        raise AssertionError("size 0 accepted")
            ''',
        ),
        task(
            "format_bytes", "humanize.py", "format_bytes",
            prompt=r'''
                UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]


                # format_bytes(n) renders a byte count for people using binary units (1 KiB = 1024 B):
                # below 1024 it prints the integer with " B"; otherwise divide by 1024 until the value is
                # below 1024 (stop at TiB) and print it with one decimal, e.g. 1536 -> "1.5 KiB".
                # Negative numbers raise ValueError.
            ''',
            reference=r'''
                def format_bytes(n):
                    if n < 0:
                        raise ValueError("byte counts cannot be negative")
                    if n < 1024:
                        return f"{n} B"
                    value = float(n)
                    unit = 0
                    while value >= 1024 and unit < len(UNITS) - 1:
                        value /= 1024
                        unit += 1
                    return f"{value:.1f} {UNITS[unit]}"
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(0) == "0 B"
                    assert candidate(1023) == "1023 B"
                    assert candidate(1024) == "1.0 KiB"
                    assert candidate(1536) == "1.5 KiB"
                    assert candidate(5 * 1024 ** 3) == "5.0 GiB"
                    assert candidate(3 * 1024 ** 5) == "3072.0 TiB"
                    try:
                        candidate(-1)
                    except ValueError:
                        pass
                    else:
                        raise AssertionError("negative accepted")
            ''',
        ),
        task(
            "parse_duration", "timeouts.py", "parse_duration",
            prompt=r'''
                import re

                _PART = re.compile(r"(\d+)([hms])")


                # parse_duration(text) turns strings such as "1h30m", "45s" or "2h5s" into a number of seconds
                # (an int). Units h, m, s may each appear at most once, in that order. Anything else
                # (empty string, unknown unit, spaces, repeated unit, wrong order) raises ValueError.
            ''',
            reference=r'''
                def parse_duration(text):
                    if not text or not re.fullmatch(r"(\d+[hms])+", text):
                        raise ValueError(f"invalid duration: {text!r}")
                    factors = {"h": 3600, "m": 60, "s": 1}
                    order = "hms"
                    last = -1
                    total = 0
                    for number, unit in _PART.findall(text):
                        position = order.index(unit)
                        if position <= last:
                            raise ValueError(f"invalid duration: {text!r}")
                        last = position
                        total += int(number) * factors[unit]
                    return total
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("45s") == 45
                    assert candidate("1h30m") == 5400
                    assert candidate("2h5s") == 7205
                    assert candidate("0m") == 0
                    for bad in ["", "5", "1d", "1h 30m", "30m1h", "1m1m", "h"]:
                        try:
                            candidate(bad)
                        except ValueError:
                            continue
                        raise AssertionError(f"accepted {bad!r}")
            ''',
        ),
        task(
            "top_words", "wordcount.py", "top_words",
            prompt=r'''
                import re
                from collections import Counter

                STOP_WORDS = {"the", "a", "an", "and", "of", "to", "in"}


                # top_words(text, n) returns the n most frequent words of text as (word, count) tuples.
                # Words are runs of letters and apostrophes, compared lowercase; STOP_WORDS are ignored.
                # Ties are broken alphabetically so the result is deterministic.
            ''',
            reference=r'''
                def top_words(text, n):
                    words = [w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOP_WORDS]
                    counts = Counter(words)
                    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
            ''',
            tests=r'''
                def check(candidate):
                    text = "The cat and the hat. A cat, a bat, a HAT! Don't stop the cat."
                    assert candidate(text, 2) == [("cat", 3), ("hat", 2)]
                    assert candidate(text, 4) == [("cat", 3), ("hat", 2), ("bat", 1), ("don't", 1)]
                    assert candidate("", 3) == []
                    assert candidate("the of and", 5) == []
            ''',
        ),
        task(
            "redact_secrets", "logging_setup.py", "redact_secrets",
            prompt=r'''
                import logging
                import re

                SECRET_KEYS = ("password", "token", "api_key")

                logger = logging.getLogger(__name__)


                # redact_secrets(line) hides secret values in a log line before it is written. A secret is
                # key=value or key: value where the key is one of SECRET_KEYS (any letter case); the value runs
                # up to the next whitespace, comma or semicolon. Replace only the value with "[REDACTED]".
            ''',
            reference=r'''
                _SECRET = re.compile(r"(?i)\b(" + "|".join(SECRET_KEYS) + r")(\s*[=:]\s*)([^\s,;]+)")


                def redact_secrets(line):
                    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", line)
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("login user=bob password=hunter2 ok") == "login user=bob password=[REDACTED] ok"
                    assert candidate("Token: abc123, retry=3") == "Token: [REDACTED], retry=3"
                    assert candidate("API_KEY=xyz;PASSWORD = p") == "API_KEY=[REDACTED];PASSWORD = [REDACTED]"
                    assert candidate("nothing to hide here") == "nothing to hide here"
                    assert candidate("passwords_reset=5") == "passwords_reset=5"
            ''',
        ),
        task(
            "csv_totals", "reports.py", "totals_by_category",
            prompt=r'''
                import csv
                import io
                from decimal import Decimal

                SAMPLE = """date,category,amount
                2024-01-03,food,12.50
                2024-01-04,rent,800
                2024-01-09,food,7.25
                """


                # totals_by_category(csv_text) reads CSV text with a header row that includes "category" and
                # "amount" columns (other columns may exist, in any order) and returns a dict mapping each
                # category to the sum of its amounts as a Decimal. Blank lines are ignored; an amount that is
                # not a number raises ValueError naming the 1-based data row.
            ''',
            reference=r'''
                def totals_by_category(csv_text):
                    totals = {}
                    reader = csv.DictReader(io.StringIO(csv_text))
                    for number, row in enumerate(reader, start=1):
                        try:
                            amount = Decimal(row["amount"].strip())
                        except Exception:
                            raise ValueError(f"row {number}: bad amount {row['amount']!r}") from None
                        if not amount.is_finite():
                            raise ValueError(f"row {number}: bad amount {row['amount']!r}")
                        category = row["category"]
                        totals[category] = totals.get(category, Decimal("0")) + amount
                    return totals
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(SAMPLE) == {"food": Decimal("19.75"), "rent": Decimal("800")}
                    reordered = "amount,note,category\n1.10,x,a\n\n2.20,\"y, z\",a\n3,w,b\n"
                    assert candidate(reordered) == {"a": Decimal("3.30"), "b": Decimal("3")}
                    try:
                        candidate("category,amount\na,1\nb,lots\n")
                    except ValueError as exc:
                        assert "2" in str(exc)
                    else:
                        raise AssertionError("bad amount accepted")
            ''',
        ),
        task(
            "ini_section", "config_loader.py", "read_section",
            prompt=r'''
                import configparser


                # read_section(ini_text, section) parses INI text and returns the options of one section as a
                # dict. Convert values: "true"/"false"/"yes"/"no" (any case) to bool, whole numbers to int,
                # everything else stays a str. Option names keep configparser's lowercasing. A missing
                # section raises KeyError. Values inherited from [DEFAULT] are included.
            ''',
            reference=r'''
                def _convert(value):
                    lowered = value.strip().lower()
                    if lowered in ("true", "yes"):
                        return True
                    if lowered in ("false", "no"):
                        return False
                    try:
                        return int(value)
                    except ValueError:
                        return value


                def read_section(ini_text, section):
                    parser = configparser.ConfigParser()
                    parser.read_string(ini_text)
                    if not parser.has_section(section):
                        raise KeyError(section)
                    return {name: _convert(value) for name, value in parser.items(section)}
            ''',
            tests=r'''
                def check(candidate):
                    text = """
                [DEFAULT]
                retries = 3

                [server]
                Host = example.org
                port = 8080
                debug = Yes
                ratio = 0.5
                """
                    assert candidate(text, "server") == {
                        "retries": 3, "host": "example.org", "port": 8080, "debug": True, "ratio": "0.5",
                    }
                    try:
                        candidate(text, "client")
                    except KeyError:
                        pass
                    else:
                        raise AssertionError("missing section accepted")
            ''',
        ),
        task(
            "parse_log_line", "logparse.py", "parse_log_line",
            prompt=r'''
                import re
                from dataclasses import dataclass
                from datetime import datetime


                @dataclass(frozen=True)
                class LogEntry:
                    timestamp: datetime
                    level: str
                    component: str
                    message: str


                # parse_log_line(line) parses lines like
                #   "2024-03-05 12:00:01 [ERROR] db: connection lost"
                # into a LogEntry (the level uppercased even if written in lowercase). Leading and trailing
                # whitespace is ignored. Return None for lines that do not match this format.
            ''',
            reference=r'''
                _LINE = re.compile(
                    r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) \[(\w+)\] ([\w.-]+): (.*)"
                )


                def parse_log_line(line):
                    match = _LINE.fullmatch(line.strip())
                    if match is None:
                        return None
                    stamp, level, component, message = match.groups()
                    try:
                        timestamp = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
                    except ValueError:
                        return None
                    return LogEntry(timestamp, level.upper(), component, message)
            ''',
            tests=r'''
                def check(candidate):
                    entry = candidate("2024-03-05 12:00:01 [ERROR] db: connection lost")
                    assert entry == LogEntry(datetime(2024, 3, 5, 12, 0, 1), "ERROR", "db", "connection lost")
                    entry = candidate("  2023-12-31 23:59:59 [warn] api.v2: slow: 2s\n")
                    assert entry.level == "WARN" and entry.component == "api.v2" and entry.message == "slow: 2s"
                    assert candidate("garbage") is None
                    assert candidate("2024-13-05 12:00:01 [INFO] x: bad month") is None
            ''',
        ),
        task(
            "errors_per_hour", "logstats.py", "errors_per_hour",
            prompt=r'''
                from collections import Counter


                # errors_per_hour(lines) counts ERROR entries per hour in log lines of the form
                # "YYYY-MM-DD HH:MM:SS LEVEL message". Return a dict mapping "YYYY-MM-DD HH:00" to the count,
                # sorted by hour. Lines that are too short or have another level are skipped.
            ''',
            reference=r'''
                def errors_per_hour(lines):
                    counts = Counter()
                    for line in lines:
                        parts = line.split(maxsplit=3)
                        if len(parts) < 3 or parts[2] != "ERROR":
                            continue
                        hour = parts[1][:2]
                        counts[f"{parts[0]} {hour}:00"] += 1
                    return dict(sorted(counts.items()))
            ''',
            tests=r'''
                def check(candidate):
                    lines = [
                        "2024-05-01 10:15:00 ERROR disk full",
                        "2024-05-01 09:59:59 ERROR timeout",
                        "2024-05-01 10:45:10 INFO started",
                        "2024-05-01 10:50:00 ERROR disk full again",
                        "",
                        "broken",
                    ]
                    out = candidate(lines)
                    assert out == {"2024-05-01 09:00": 1, "2024-05-01 10:00": 2}
                    assert list(out) == ["2024-05-01 09:00", "2024-05-01 10:00"]
                    assert candidate([]) == {}
            ''',
        ),
        task(
            "query_params", "links.py", "query_params",
            prompt=r'''
                from urllib.parse import parse_qsl, urlsplit


                # query_params(url) returns the query string parameters of url as a dict. A parameter that
                # appears once maps to its (percent-decoded) string value; one that appears several times
                # maps to the list of its values in order. Keep parameters with empty values ("a=" -> "").
            ''',
            reference=r'''
                def query_params(url):
                    params = {}
                    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
                        if name not in params:
                            params[name] = value
                        elif isinstance(params[name], list):
                            params[name].append(value)
                        else:
                            params[name] = [params[name], value]
                    return params
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("https://x.org/search?q=caf%C3%A9+au+lait&page=2") == {"q": "café au lait", "page": "2"}
                    assert candidate("http://h/p?tag=a&tag=b&tag=c&x=") == {"tag": ["a", "b", "c"], "x": ""}
                    assert candidate("http://h/p") == {}
                    assert candidate("/relative?a=1#frag") == {"a": "1"}
            ''',
        ),
        task(
            "normalize_url", "crawler.py", "normalize_url",
            prompt=r'''
                from urllib.parse import urlencode, parse_qsl, urlsplit, urlunsplit

                DEFAULT_PORTS = {"http": 80, "https": 443}


                # normalize_url(url) gives equivalent URLs one spelling so the crawler can deduplicate them:
                # lowercase the scheme and host, drop the port when it is the scheme's default, use "/" for an
                # empty path, sort query parameters by name (stable for repeated names), drop the fragment.
            ''',
            reference=r'''
                def normalize_url(url):
                    parts = urlsplit(url)
                    scheme = parts.scheme.lower()
                    host = (parts.hostname or "").lower()
                    netloc = host
                    if parts.port is not None and parts.port != DEFAULT_PORTS.get(scheme):
                        netloc = f"{host}:{parts.port}"
                    if parts.username:
                        credentials = parts.username + (f":{parts.password}" if parts.password else "")
                        netloc = f"{credentials}@{netloc}"
                    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True), key=lambda kv: kv[0]))
                    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("HTTP://Example.COM:80/a?b=2&a=1#top") == "http://example.com/a?a=1&b=2"
                    assert candidate("https://example.com:8443") == "https://example.com:8443/"
                    assert candidate("https://example.com:443/x?z=1&z=0") == "https://example.com/x?z=1&z=0"
                    assert candidate("http://example.com/path/") == "http://example.com/path/"
            ''',
        ),
        task(
            "compare_versions", "versions.py", "compare_versions",
            prompt=r'''
                # compare_versions(a, b) compares dotted version strings such as "1.10.2" and "1.9": return -1
                # if a is older, 1 if newer, 0 if equal. Compare components numerically; missing trailing
                # components count as 0, so "1.2" equals "1.2.0". A leading "v" is allowed ("v2.0").
            ''',
            reference=r'''
                def _parts(version):
                    return [int(piece) for piece in version.lstrip("vV").split(".")]


                def compare_versions(a, b):
                    left, right = _parts(a), _parts(b)
                    width = max(len(left), len(right))
                    left += [0] * (width - len(left))
                    right += [0] * (width - len(right))
                    return (left > right) - (left < right)
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("1.10.2", "1.9") == 1
                    assert candidate("1.2", "1.2.0") == 0
                    assert candidate("v2.0", "2.0.1") == -1
                    assert candidate("0.0.1", "0.0.01") == 0
                    assert candidate("10", "9.99.99") == 1
            ''',
        ),
        task(
            "parse_headers", "http_raw.py", "parse_headers",
            prompt=r'''
                # parse_headers(raw) parses the header block of an HTTP/1.1 message (lines separated by "\r\n"
                # or "\n", no status line) into a dict with lowercase header names. Values are stripped; a
                # header that repeats has its values joined with ", ". Stop at the first empty line. Lines
                # without a colon raise ValueError.
            ''',
            reference=r'''
                def parse_headers(raw):
                    headers = {}
                    for line in raw.replace("\r\n", "\n").split("\n"):
                        if not line.strip():
                            break
                        name, sep, value = line.partition(":")
                        if not sep:
                            raise ValueError(f"malformed header line: {line!r}")
                        name, value = name.strip().lower(), value.strip()
                        headers[name] = f"{headers[name]}, {value}" if name in headers else value
                    return headers
            ''',
            tests=r'''
                def check(candidate):
                    raw = "Content-Type: text/html\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\n\r\nbody: no"
                    assert candidate(raw) == {"content-type": "text/html", "set-cookie": "a=1, b=2", "x-empty": ""}
                    assert candidate("Host: example.org:8080\n") == {"host": "example.org:8080"}
                    try:
                        candidate("Host example.org")
                    except ValueError:
                        pass
                    else:
                        raise AssertionError("line without colon accepted")
            ''',
        ),
        task(
            "merge_intervals", "scheduling.py", "merge_intervals",
            prompt=r'''
                Interval = tuple[int, int]


                # merge_intervals(intervals) merges overlapping or touching [start, end] intervals and returns
                # them sorted by start: [(1, 3), (2, 6), (8, 10), (10, 12)] -> [(1, 6), (8, 12)].
                # The input list must not be modified.
            ''',
            reference=r'''
                def merge_intervals(intervals: list[Interval]) -> list[Interval]:
                    merged: list[Interval] = []
                    for start, end in sorted(intervals):
                        if merged and start <= merged[-1][1]:
                            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                        else:
                            merged.append((start, end))
                    return merged
            ''',
            tests=r'''
                def check(candidate):
                    data = [(8, 10), (1, 3), (10, 12), (2, 6)]
                    assert candidate(data) == [(1, 6), (8, 12)]
                    assert data == [(8, 10), (1, 3), (10, 12), (2, 6)]
                    assert candidate([]) == []
                    assert candidate([(1, 10), (2, 3)]) == [(1, 10)]
                    assert candidate([(5, 6), (1, 2)]) == [(1, 2), (5, 6)]
            ''',
        ),
        task(
            "topological_order", "build_graph.py", "build_order",
            prompt=r'''
                import heapq


                class CycleError(ValueError):
                    """The dependency graph has a cycle."""


                # build_order(deps) takes {target: [targets it depends on]} and returns a list in which every
                # target comes after all its dependencies. Dependencies that are not keys are targets too.
                # Among targets that are ready at the same time, take the alphabetically smallest first, so the
                # order is deterministic. Raise CycleError if the graph has a cycle.
            ''',
            reference=r'''
                def build_order(deps):
                    nodes = set(deps)
                    for needed in deps.values():
                        nodes.update(needed)
                    waiting = {node: set(deps.get(node, ())) for node in nodes}
                    users = {node: [] for node in nodes}
                    for node, needed in waiting.items():
                        for dep in needed:
                            users[dep].append(node)
                    ready = [node for node, needed in waiting.items() if not needed]
                    heapq.heapify(ready)
                    order = []
                    while ready:
                        node = heapq.heappop(ready)
                        order.append(node)
                        for user in users[node]:
                            waiting[user].discard(node)
                            if not waiting[user]:
                                heapq.heappush(ready, user)
                    if len(order) != len(nodes):
                        raise CycleError("dependency cycle")
                    return order
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate({"app": ["lib", "utils"], "lib": ["utils"]}) == ["utils", "lib", "app"]
                    assert candidate({"b": [], "a": [], "c": ["a"]}) == ["a", "b", "c"]
                    assert candidate({}) == []
                    try:
                        candidate({"a": ["b"], "b": ["c"], "c": ["a"]})
                    except CycleError:
                        pass
                    else:
                        raise AssertionError("cycle not detected")
            ''',
        ),
        task(
            "grid_shortest_path", "maze.py", "shortest_path_length",
            prompt=r'''
                from collections import deque

                MAZE = [
                    "S.#.....",
                    ".##.###.",
                    "....#..E",
                ]


                # shortest_path_length(grid) finds the fewest steps from "S" to "E" in a grid of strings where
                # "#" is a wall and anything else is open; moves go up, down, left or right. Return -1 if E
                # cannot be reached.
            ''',
            reference=r'''
                def shortest_path_length(grid):
                    cells = {(r, c): ch for r, row in enumerate(grid) for c, ch in enumerate(row)}
                    start = next(pos for pos, ch in cells.items() if ch == "S")
                    queue = deque([(start, 0)])
                    seen = {start}
                    while queue:
                        (r, c), steps = queue.popleft()
                        if cells[(r, c)] == "E":
                            return steps
                        for nxt in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                            if nxt in cells and cells[nxt] != "#" and nxt not in seen:
                                seen.add(nxt)
                                queue.append((nxt, steps + 1))
                    return -1
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(MAZE) == 13
                    assert candidate(["SE"]) == 1
                    assert candidate(["S#E"]) == -1
                    assert candidate(["S..", ".#.", "..E"]) == 4
            ''',
        ),
        task(
            "levenshtein", "fuzzy.py", "closest_command",
            prompt=r'''
                COMMANDS = ["status", "commit", "checkout", "push", "pull", "stash"]


                def levenshtein(a: str, b: str) -> int:
                    previous = list(range(len(b) + 1))
                    for i, ca in enumerate(a, start=1):
                        current = [i]
                        for j, cb in enumerate(b, start=1):
                            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
                        previous = current
                    return previous[-1]


                # closest_command(typed, max_distance=2) suggests the entry of COMMANDS closest to what the user
                # typed, by levenshtein distance. Ties go to the command listed first in COMMANDS. Return None
                # when the best distance exceeds max_distance.
            ''',
            reference=r'''
                def closest_command(typed, max_distance=2):
                    best = min(COMMANDS, key=lambda command: levenshtein(typed, command))
                    return best if levenshtein(typed, best) <= max_distance else None
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("stauts") == "status"
                    assert candidate("comit") == "commit"
                    assert candidate("pul") == "pull"
                    assert candidate("pu") == "push"
                    assert candidate("xyzzy") is None
                    assert candidate("chekcout", max_distance=1) is None
                    assert candidate("chekcout") == "checkout"
            ''',
        ),
        task(
            "run_length", "codec.py", "rle_decode",
            prompt=r'''
                import re


                def rle_encode(text: str) -> str:
                    """"aaabcc" -> "3a1b2c"."""
                    return "".join(f"{len(m.group(0))}{m.group(1)}" for m in re.finditer(r"(.)\1*", text, re.S))


                # Write the inverse, rle_decode(encoded), so that rle_decode(rle_encode(s)) == s for any string
                # s without digits (a count can have several digits, e.g. "12x" is twelve x's).
                # Raise ValueError on input that rle_encode could not have produced, like "a3" or "3".
            ''',
            reference=r'''
                def rle_decode(encoded: str) -> str:
                    out = []
                    position = 0
                    while position < len(encoded):
                        match = re.match(r"([1-9]\d*)(.)", encoded[position:], re.S)
                        if match is None:
                            raise ValueError(f"malformed run at {position}: {encoded[position:]!r}")
                        out.append(match.group(2) * int(match.group(1)))
                        position += match.end()
                    return "".join(out)
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("3a1b2c") == "aaabcc"
                    assert candidate("12x") == "x" * 12
                    for s in ["", "hello", "a\nb\n\n", "  two  spaces ", "x" * 12 + "y"]:
                        assert candidate(rle_encode(s)) == s
                    for bad in ["a3", "3", "0a"]:
                        try:
                            candidate(bad)
                        except ValueError:
                            continue
                        raise AssertionError(f"accepted {bad!r}")
            ''',
        ),
        task(
            "balanced_brackets", "linting.py", "first_unbalanced",
            prompt=r'''
                PAIRS = {")": "(", "]": "[", "}": "{"}


                # first_unbalanced(source) checks (), [] and {} in a line of code, skipping anything inside
                # single- or double-quoted string literals (no escapes to handle). Return the index of the first
                # bracket that closes the wrong or no bracket; if all closers match but some opener is left,
                # return the index of the earliest unclosed opener; return -1 when everything is balanced.
            ''',
            reference=r'''
                def first_unbalanced(source):
                    stack = []
                    quote = None
                    for index, ch in enumerate(source):
                        if quote:
                            if ch == quote:
                                quote = None
                        elif ch in "'\"":
                            quote = ch
                        elif ch in "([{":
                            stack.append((ch, index))
                        elif ch in PAIRS:
                            if not stack or stack[-1][0] != PAIRS[ch]:
                                return index
                            stack.pop()
                    return stack[0][1] if stack else -1
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate("f(a[1], {'k': v})") == -1
                    assert candidate("f(a[1)]") == 5
                    assert candidate("x = ')' + y") == -1
                    assert candidate("call(arg, [1, 2") == 4
                    assert candidate("}") == 0
                    assert candidate("") == -1
            ''',
        ),
        task(
            "moving_average", "metrics_window.py", "moving_average",
            prompt=r'''
                from collections import deque


                # moving_average(values, window) returns the averages of each full window of `window`
                # consecutive values, as floats: moving_average([1, 2, 3, 4], 2) -> [1.5, 2.5, 3.5].
                # Fewer values than window gives []. window < 1 raises ValueError. Accept any iterable and
                # run in O(len(values)) time.
            ''',
            reference=r'''
                def moving_average(values, window):
                    if window < 1:
                        raise ValueError("window must be at least 1")
                    recent = deque()
                    total = 0.0
                    out = []
                    for value in values:
                        recent.append(value)
                        total += value
                        if len(recent) > window:
                            total -= recent.popleft()
                        if len(recent) == window:
                            out.append(total / window)
                    return out
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
                    assert candidate(iter([5, 5, 5]), 3) == [5.0]
                    assert candidate([1, 2], 3) == []
                    out = candidate(range(100000), 1000)
                    assert len(out) == 99001 and abs(out[0] - 499.5) < 1e-9 and abs(out[-1] - 99499.5) < 1e-6
                    try:
                        candidate([1], 0)
                    except ValueError:
                        pass
                    else:
                        raise AssertionError("window 0 accepted")
            ''',
        ),
        task(
            "primes", "number_theory.py", "primes_below",
            prompt=r'''
                # primes_below(limit) returns the list of all primes smaller than limit using a sieve of
                # Eratosthenes; it must handle limit up to a few million quickly. limit <= 2 gives [].
            ''',
            reference=r'''
                def primes_below(limit):
                    if limit <= 2:
                        return []
                    sieve = bytearray([1]) * limit
                    sieve[0] = sieve[1] = 0
                    for n in range(2, int(limit ** 0.5) + 1):
                        if sieve[n]:
                            sieve[n * n::n] = bytearray(len(range(n * n, limit, n)))
                    return [n for n in range(limit) if sieve[n]]
            ''',
            tests=r'''
                def check(candidate):
                    assert candidate(2) == []
                    assert candidate(3) == [2]
                    assert candidate(30) == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
                    assert len(candidate(1_000_000)) == 78498
            ''',
        ),
    ]
