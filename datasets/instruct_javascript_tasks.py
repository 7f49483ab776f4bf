"""instruct_javascript tasks: strings, arrays and objects, parsing, dates, files, algorithms, classes."""

# ruff: noqa: E501


def tasks(task):
    """The tasks of this set, built with the `task` row constructor."""
    return _strings(task) + _collections(task) + _parsing(task) + _dates(task) + _algorithms(task) + _classes(task)


def _strings(task):
    return [
        task(
            "kebab_case", "caseUtils.js", "toKebabCase",
            prompt=r'''
                'use strict';

                // toKebabCase(name): convert an identifier or a phrase to kebab-case for CSS class
                // names. Word boundaries are spaces, underscores, hyphens and lower-to-upper case
                // changes ("fontSize" -> "font-size"); a run of capitals followed by a lowercase
                // letter starts a new word at its last capital ("XMLParser" -> "xml-parser").
                // The result is lowercase, with single hyphens and none at either end.
            ''',
            reference=r'''
                function toKebabCase(name) {
                  return name
                    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
                    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
                    .split(/[\s_-]+/)
                    .filter(Boolean)
                    .map((word) => word.toLowerCase())
                    .join('-');
                }

                module.exports = { toKebabCase };
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate('fontSize'), 'font-size');
                  assert.equal(candidate('XMLParser'), 'xml-parser');
                  assert.equal(candidate('  Hello   big_World '), 'hello-big-world');
                  assert.equal(candidate('already-kebab'), 'already-kebab');
                  assert.equal(candidate('getHTTPResponseCode2'), 'get-http-response-code2');
                  assert.equal(candidate('__'), '');
                }
            ''',
        ),
        task(
            "wrap_text", "textLayout.js", "wrapText",
            prompt=r'''
                const DEFAULT_WIDTH = 40;

                // wrapText(text, width = DEFAULT_WIDTH) breaks text into an array of lines no longer
                // than width, filling each line greedily with whole words separated by one space.
                // Any whitespace (including newlines) separates words. A word longer than width goes
                // on a line of its own, unbroken. Empty or blank text gives an empty array.
            ''',
            reference=r'''
                function wrapText(text, width = DEFAULT_WIDTH) {
                  const lines = [];
                  let current = '';
                  for (const word of text.split(/\s+/).filter(Boolean)) {
                    if (current && current.length + 1 + word.length <= width) {
                      current += ' ' + word;
                    } else {
                      if (current) lines.push(current);
                      current = word;
                    }
                  }
                  if (current) lines.push(current);
                  return lines;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.deepEqual(candidate('the quick brown fox jumps over the lazy dog', 10),
                                   ['the quick', 'brown fox', 'jumps over', 'the lazy', 'dog']);
                  assert.deepEqual(candidate('a  b\nc', 3), ['a b', 'c']);
                  assert.deepEqual(candidate('tiny extraordinarily long', 6), ['tiny', 'extraordinarily', 'long']);
                  assert.deepEqual(candidate('   '), []);
                  assert.deepEqual(candidate('one two three'), ['one two three']);
                }
            ''',
        ),
        task(
            "mask_card", "billing.js", "maskCardNumber",
            prompt=r'''
                // maskCardNumber(input) returns a card number safe to show on a receipt: every digit
                // except the last four becomes "*", while spaces and dashes stay where they are.
                // Throw a RangeError when the input has fewer than 12 digits, and a TypeError when it
                // contains anything other than digits, spaces and dashes.
            ''',
            reference=r'''
                function maskCardNumber(input) {
                  if (!/^[\d -]*$/.test(input)) {
                    throw new TypeError(`unexpected character in card number: ${input}`);
                  }
                  const digits = input.replace(/\D/g, '').length;
                  if (digits < 12) {
                    throw new RangeError(`a card number has at least 12 digits, got ${digits}`);
                  }
                  let seen = 0;
                  return input.replace(/\d/g, (d) => (++seen > digits - 4 ? d : '*'));
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate('4111 1111 1111 1234'), '**** **** **** 1234');
                  assert.equal(candidate('5500-0000-0000-0004'), '****-****-****-0004');
                  assert.equal(candidate('123456789012'), '********9012');
                  assert.throws(() => candidate('1234 5678'), RangeError);
                  assert.throws(() => candidate('4111 1111 1111 12a4'), TypeError);
                }
            ''',
        ),
        task(
            "fill_template", "mailer.js", "fillTemplate",
            prompt=r'''
                'use strict';

                // fillTemplate(template, values): replace each placeholder "{{ name }}" (spaces inside
                // the braces optional) with String(values[name]). Names are letters, digits, "_" and
                // dots; a dotted name looks up nested objects ("{{user.name}}"). A placeholder whose
                // value is undefined makes the function throw an Error whose message contains the name.
            ''',
            reference=r'''
                function fillTemplate(template, values) {
                  return template.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, name) => {
                    let value = values;
                    for (const part of name.split('.')) {
                      value = value == null ? undefined : value[part];
                    }
                    if (value === undefined) {
                      throw new Error(`no value for placeholder ${name}`);
                    }
                    return String(value);
                  });
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate('Hi {{ name }}, you owe {{amount}}.', { name: 'Ada', amount: 12.5 }),
                               'Hi Ada, you owe 12.5.');
                  assert.equal(candidate('{{user.address.city}}!', { user: { address: { city: 'Oslo' } } }), 'Oslo!');
                  assert.equal(candidate('{{n}} items, {{ n }} total', { n: 0 }), '0 items, 0 total');
                  assert.equal(candidate('no placeholders', {}), 'no placeholders');
                  assert.throws(() => candidate('Dear {{ title }}', {}), /title/);
                  assert.throws(() => candidate('{{a.b}}', { a: null }), /a\.b/);
                }
            ''',
        ),
    ]


def _collections(task):
    return [
        task(
            "group_by", "reports.js", "groupBy",
            prompt=r'''
                // groupBy(items, key) groups an array into a plain object. key is either a property
                // name or a function of the item. Keys appear in order of first occurrence and each
                // group keeps the items' original order. Do not modify the input array.
            ''',
            reference=r'''
                function groupBy(items, key) {
                  const keyOf = typeof key === 'function' ? key : (item) => item[key];
                  const groups = {};
                  for (const item of items) {
                    const k = keyOf(item);
                    (groups[k] ??= []).push(item);
                  }
                  return groups;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const orders = [
                    { id: 1, status: 'open' }, { id: 2, status: 'done' }, { id: 3, status: 'open' },
                  ];
                  const copy = JSON.parse(JSON.stringify(orders));
                  const byStatus = candidate(orders, 'status');
                  assert.deepEqual(Object.keys(byStatus), ['open', 'done']);
                  assert.deepEqual(byStatus.open.map((o) => o.id), [1, 3]);
                  assert.deepEqual(orders, copy);
                  assert.deepEqual(candidate([1, 2, 3, 4, 5], (n) => (n % 2 ? 'odd' : 'even')),
                                   { odd: [1, 3, 5], even: [2, 4] });
                  assert.deepEqual(candidate([], 'x'), {});
                }
            ''',
        ),
        task(
            "get_path", "settings.js", "getPath",
            prompt=r'''
                const defaults = { theme: 'light', editor: { tabSize: 2 } };

                // getPath(obj, path, fallback) reads a nested value: path is a string such as
                // "editor.rulers.0" (array indexes are written as segments too) or an array of keys.
                // If any step is missing (null, undefined or an absent key), return fallback instead
                // of throwing. A value that exists but is falsy (0, "", false) is returned as is.
            ''',
            reference=r'''
                function getPath(obj, path, fallback) {
                  const keys = Array.isArray(path) ? path : String(path).split('.');
                  let current = obj;
                  for (const key of keys) {
                    if (current == null || !(key in Object(current))) {
                      return fallback;
                    }
                    current = current[key];
                  }
                  return current === undefined ? fallback : current;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const config = { editor: { tabSize: 0, rulers: [80, 120], wrap: false }, name: '' };
                  assert.equal(candidate(config, 'editor.rulers.1'), 120);
                  assert.equal(candidate(config, ['editor', 'tabSize'], 4), 0);
                  assert.equal(candidate(config, 'editor.wrap', true), false);
                  assert.equal(candidate(config, 'name', 'anon'), '');
                  assert.equal(candidate(config, 'editor.font.size', 12), 12);
                  assert.equal(candidate(null, 'a', 'none'), 'none');
                  assert.equal(candidate(defaults, 'theme'), 'light');
                }
            ''',
        ),
        task(
            "shallow_diff", "audit.js", "shallowDiff",
            prompt=r'''
                // shallowDiff(before, after) compares two flat records for the audit log and returns
                // { added, removed, changed }: arrays of key names, each sorted alphabetically.
                // A key is changed when both objects have it and the values differ by Object.is
                // (so NaN equals NaN, and 0 differs from -0). Only own enumerable keys count.
            ''',
            reference=r'''
                function shallowDiff(before, after) {
                  const added = [];
                  const removed = [];
                  const changed = [];
                  for (const key of Object.keys(after)) {
                    if (!Object.prototype.hasOwnProperty.call(before, key)) added.push(key);
                    else if (!Object.is(before[key], after[key])) changed.push(key);
                  }
                  for (const key of Object.keys(before)) {
                    if (!Object.prototype.hasOwnProperty.call(after, key)) removed.push(key);
                  }
                  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.deepEqual(
                    candidate({ name: 'a', size: 1, tag: 'x', z: NaN }, { size: 2, name: 'a', color: 'red', z: NaN }),
                    { added: ['color'], removed: ['tag'], changed: ['size'] });
                  assert.deepEqual(candidate({ v: 0 }, { v: -0 }), { added: [], removed: [], changed: ['v'] });
                  assert.deepEqual(candidate({}, {}), { added: [], removed: [], changed: [] });
                  const proto = Object.create({ inherited: 1 });
                  assert.deepEqual(candidate(proto, { b: 1, a: 2 }), { added: ['a', 'b'], removed: [], changed: [] });
                }
            ''',
        ),
        task(
            "sort_by_keys", "tableView.js", "sortByKeys",
            prompt=r'''
                'use strict';

                // sortByKeys(rows, keys) returns a new array of the rows sorted by several columns.
                // keys is an array of property names; a name starting with "-" sorts that column in
                // descending order. Numbers compare numerically, strings with localeCompare. Rows
                // that tie on every key keep their input order. The input array is left unchanged.
            ''',
            reference=r'''
                function sortByKeys(rows, keys) {
                  const specs = keys.map((k) => (k.startsWith('-') ? [k.slice(1), -1] : [k, 1]));
                  const compare = (a, b) => {
                    if (typeof a === 'number' && typeof b === 'number') return a - b;
                    return String(a).localeCompare(String(b));
                  };
                  return rows
                    .map((row, index) => ({ row, index }))
                    .sort((x, y) => {
                      for (const [name, direction] of specs) {
                        const order = compare(x.row[name], y.row[name]);
                        if (order !== 0) return order * direction;
                      }
                      return x.index - y.index;
                    })
                    .map(({ row }) => row);
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const rows = [
                    { name: 'bo', team: 'red', score: 7 },
                    { name: 'al', team: 'blue', score: 9 },
                    { name: 'cy', team: 'red', score: 10 },
                    { name: 'di', team: 'blue', score: 9 },
                  ];
                  const before = rows.slice();
                  assert.deepEqual(candidate(rows, ['team', '-score']).map((r) => r.name), ['al', 'di', 'cy', 'bo']);
                  assert.deepEqual(candidate(rows, ['-score']).map((r) => r.name), ['cy', 'al', 'di', 'bo']);
                  assert.deepEqual(candidate(rows, ['score']).map((r) => r.name), ['bo', 'al', 'di', 'cy']);
                  assert.deepEqual(rows, before);
                  assert.deepEqual(candidate([], ['x']), []);
                }
            ''',
        ),
    ]


def _parsing(task):
    return [
        task(
            "parse_query", "urlHelpers.js", "parseQuery",
            prompt=r'''
                // parseQuery(query) parses a URL query string (with or without the leading "?") into a
                // plain object. "+" means a space and %XX escapes are decoded in names and values. A
                // name without "=" gets the value "". A name that appears more than once maps to an
                // array of its values in order; otherwise the value is a string. Skip empty pieces.
                // Do not use URLSearchParams: this file also runs in an old embedded engine.
            ''',
            reference=r'''
                function parseQuery(query) {
                  const decode = (text) => decodeURIComponent(text.replace(/\+/g, ' '));
                  const result = {};
                  for (const piece of query.replace(/^\?/, '').split('&')) {
                    if (!piece) continue;
                    const eq = piece.indexOf('=');
                    const name = decode(eq < 0 ? piece : piece.slice(0, eq));
                    const value = eq < 0 ? '' : decode(piece.slice(eq + 1));
                    if (!Object.prototype.hasOwnProperty.call(result, name)) result[name] = value;
                    else if (Array.isArray(result[name])) result[name].push(value);
                    else result[name] = [result[name], value];
                  }
                  return result;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.deepEqual(candidate('?q=hello+world&page=2'), { q: 'hello world', page: '2' });
                  assert.deepEqual(candidate('tag=a&tag=b&tag=c'), { tag: ['a', 'b', 'c'] });
                  assert.deepEqual(candidate('flag&&x=%3D%26&caf%C3%A9=1'), { flag: '', x: '=&', 'café': '1' });
                  assert.deepEqual(candidate(''), {});
                  assert.deepEqual(candidate('?a=1=2'), { a: '1=2' });
                }
            ''',
        ),
        task(
            "parse_csv_line", "csvImport.js", "parseCsvLine",
            prompt=r'''
                const SEPARATOR = ',';

                // parseCsvLine(line, separator = SEPARATOR) splits one CSV record into an array of
                // field strings. A field may be wrapped in double quotes; inside quotes the separator
                // is literal text and "" stands for one quote character. Unquoted fields are kept
                // as they are (no trimming). Throw a SyntaxError for a quote that is never closed.
            ''',
            reference=r'''
                function parseCsvLine(line, separator = SEPARATOR) {
                  const fields = [];
                  let field = '';
                  let i = 0;
                  let quoted = false;
                  while (i < line.length) {
                    const ch = line[i];
                    if (quoted) {
                      if (ch === '"' && line[i + 1] === '"') { field += '"'; i += 2; continue; }
                      if (ch === '"') quoted = false;
                      else field += ch;
                    } else if (ch === '"' && field === '') {
                      quoted = true;
                    } else if (ch === separator) {
                      fields.push(field);
                      field = '';
                    } else {
                      field += ch;
                    }
                    i += 1;
                  }
                  if (quoted) throw new SyntaxError('unterminated quoted field');
                  fields.push(field);
                  return fields;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.deepEqual(candidate('a,b,c'), ['a', 'b', 'c']);
                  assert.deepEqual(candidate('"Smith, J",42,"say ""hi"""'), ['Smith, J', '42', 'say "hi"']);
                  assert.deepEqual(candidate(',, x '), ['', '', ' x ']);
                  assert.deepEqual(candidate('1;"2;3";4', ';'), ['1', '2;3', '4']);
                  assert.deepEqual(candidate(''), ['']);
                  assert.throws(() => candidate('"open,field'), SyntaxError);
                }
            ''',
        ),
        task(
            "compare_versions", "updater.js", "compareVersions",
            prompt=r'''
                // compareVersions(a, b) orders dotted version strings such as "1.10.2" or "v2.0":
                // return a negative number if a is older, positive if newer, 0 if equal. An optional
                // leading "v" is ignored, parts compare as integers, and missing parts count as 0
                // ("1.2" equals "1.2.0"). The result must work as an Array.prototype.sort comparator.
            ''',
            reference=r'''
                function compareVersions(a, b) {
                  const parts = (v) => v.replace(/^v/, '').split('.').map((p) => parseInt(p, 10) || 0);
                  const x = parts(a);
                  const y = parts(b);
                  for (let i = 0; i < Math.max(x.length, y.length); i += 1) {
                    const diff = (x[i] ?? 0) - (y[i] ?? 0);
                    if (diff !== 0) return diff;
                  }
                  return 0;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.ok(candidate('1.10.0', '1.9.9') > 0);
                  assert.ok(candidate('v2.0', '2.0.1') < 0);
                  assert.equal(candidate('1.2', '1.2.0'), 0);
                  assert.equal(candidate('v3.4.5', '3.4.5'), 0);
                  assert.deepEqual(['1.0.10', '1.0.2', 'v0.9', '1.0'].sort(candidate), ['v0.9', '1.0', '1.0.2', '1.0.10']);
                }
            ''',
        ),
        task(
            "parse_duration", "scheduler.js", "parseDuration",
            prompt=r'''
                'use strict';

                const UNIT_SECONDS = { d: 86400, h: 3600, m: 60, s: 1 };

                // parseDuration(text) turns a duration such as "1h30m", "2d 4h" or "45s" into a number
                // of seconds, using UNIT_SECONDS. Each part is a whole number followed by a unit; parts
                // may be separated by spaces and must come in the order d, h, m, s with no unit twice.
                // Throw a SyntaxError for anything else (including an empty string).
            ''',
            reference=r'''
                function parseDuration(text) {
                  const match = /^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$/.exec(text);
                  if (!match || match.slice(1).every((part) => part === undefined)) {
                    throw new SyntaxError(`not a duration: ${JSON.stringify(text)}`);
                  }
                  const units = ['d', 'h', 'm', 's'];
                  return units.reduce((total, unit, i) => total + Number(match[i + 1] ?? 0) * UNIT_SECONDS[unit], 0);
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate('1h30m'), 5400);
                  assert.equal(candidate('2d 4h'), 187200);
                  assert.equal(candidate('45s'), 45);
                  assert.equal(candidate('0m'), 0);
                  assert.equal(candidate(' 1d 0h 1m 1s '), 86461);
                  for (const bad of ['', '10', '5m1h', '1h1h', '1.5h', 'h']) {
                    assert.throws(() => candidate(bad), SyntaxError, bad);
                  }
                }
            ''',
        ),
    ]


def _dates(task):
    return [
        task(
            "add_business_days", "deliveryDates.js", "addBusinessDays",
            prompt=r'''
                // Dates in this module are "YYYY-MM-DD" strings and all arithmetic is done in UTC,
                // so the result never depends on the machine's time zone.
                //
                // addBusinessDays(date, n) returns the date n working days after date (Saturday and
                // Sunday are not working days; n may be negative to go back). With n = 0 the date
                // is returned unchanged even if it is a weekend day.
            ''',
            reference=r'''
                function addBusinessDays(date, n) {
                  const day = new Date(`${date}T00:00:00Z`);
                  const step = n < 0 ? -1 : 1;
                  let left = Math.abs(n);
                  while (left > 0) {
                    day.setUTCDate(day.getUTCDate() + step);
                    const weekday = day.getUTCDay();
                    if (weekday !== 0 && weekday !== 6) left -= 1;
                  }
                  return day.toISOString().slice(0, 10);
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate('2024-03-01', 1), '2024-03-04');
                  assert.equal(candidate('2024-02-26', 5), '2024-03-04');
                  assert.equal(candidate('2024-03-04', -1), '2024-03-01');
                  assert.equal(candidate('2023-12-29', 2), '2024-01-02');
                  assert.equal(candidate('2024-03-02', 0), '2024-03-02');
                  assert.equal(candidate('2024-03-02', 1), '2024-03-04');
                }
            ''',
        ),
        task(
            "iso_week", "timesheets.js", "isoWeek",
            prompt=r'''
                // isoWeek(date) returns the ISO-8601 week of a "YYYY-MM-DD" date as a string
                // "YYYY-Www", e.g. "2024-W09". ISO weeks start on Monday and week 1 is the week that
                // contains the year's first Thursday, so early January can belong to the previous
                // year's last week and late December to the next year's first. Compute in UTC.
            ''',
            reference=r'''
                function isoWeek(date) {
                  const day = new Date(`${date}T00:00:00Z`);
                  const weekday = day.getUTCDay() || 7;
                  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week
                  const year = day.getUTCFullYear();
                  const week = Math.ceil(((day - Date.UTC(year, 0, 1)) / 86400000 + 1) / 7);
                  return `${year}-W${String(week).padStart(2, '0')}`;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate('2024-02-29'), '2024-W09');
                  assert.equal(candidate('2021-01-03'), '2020-W53');
                  assert.equal(candidate('2019-12-30'), '2020-W01');
                  assert.equal(candidate('2024-01-01'), '2024-W01');
                  assert.equal(candidate('2023-01-01'), '2022-W52');
                  assert.equal(candidate('2026-12-31'), '2026-W53');
                }
            ''',
        ),
        task(
            "relative_time", "feed.js", "relativeTime",
            prompt=r'''
                'use strict';

                const UNITS = [
                  ['year', 365 * 24 * 3600],
                  ['month', 30 * 24 * 3600],
                  ['day', 24 * 3600],
                  ['hour', 3600],
                  ['minute', 60],
                ];

                // relativeTime(then, now) describes Date `then` as seen from Date `now` (both passed in:
                // never read the clock). Under 60 seconds either way is "just now". Otherwise use the
                // largest unit of UNITS that fits at least once, with the count rounded down:
                // "3 days ago", "1 hour ago", or for the future "in 2 minutes" (plural s only when
                // the count is not 1).
            ''',
            reference=r'''
                function relativeTime(then, now) {
                  const seconds = Math.round((now.getTime() - then.getTime()) / 1000);
                  const size = Math.abs(seconds);
                  if (size < 60) return 'just now';
                  const [name, unit] = UNITS.find(([, length]) => size >= length);
                  const count = Math.floor(size / unit);
                  const label = `${count} ${name}${count === 1 ? '' : 's'}`;
                  return seconds > 0 ? `${label} ago` : `in ${label}`;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const now = new Date('2024-05-10T12:00:00Z');
                  const at = (iso) => new Date(iso);
                  assert.equal(candidate(at('2024-05-10T11:59:30Z'), now), 'just now');
                  assert.equal(candidate(at('2024-05-10T12:00:45Z'), now), 'just now');
                  assert.equal(candidate(at('2024-05-10T11:00:00Z'), now), '1 hour ago');
                  assert.equal(candidate(at('2024-05-07T02:00:00Z'), now), '3 days ago');
                  assert.equal(candidate(at('2024-05-10T12:02:59Z'), now), 'in 2 minutes');
                  assert.equal(candidate(at('2022-01-01T00:00:00Z'), now), '2 years ago');
                  assert.equal(candidate(at('2024-07-15T12:00:00Z'), now), 'in 2 months');
                }
            ''',
        ),
        task(
            "month_grid", "calendarWidget.js", "monthGrid",
            prompt=r'''
                // monthGrid(year, month) lays out a month (month is 1-12) for a calendar widget whose
                // weeks start on Monday: an array of weeks, each an array of 7 day numbers, with null
                // in the cells before the 1st and after the last day. Use UTC dates so the layout
                // does not depend on the time zone.
            ''',
            reference=r'''
                function monthGrid(year, month) {
                  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
                  const offset = (new Date(Date.UTC(year, month - 1, 1)).getUTCDay() + 6) % 7;
                  const cells = Array(offset).fill(null);
                  for (let d = 1; d <= days; d += 1) cells.push(d);
                  while (cells.length % 7) cells.push(null);
                  const weeks = [];
                  for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
                  return weeks;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const feb2021 = candidate(2021, 2);
                  assert.equal(feb2021.length, 4);
                  assert.deepEqual(feb2021[0], [1, 2, 3, 4, 5, 6, 7]);
                  assert.deepEqual(feb2021[3], [22, 23, 24, 25, 26, 27, 28]);
                  const sep2024 = candidate(2024, 9);
                  assert.deepEqual(sep2024[0], [null, null, null, null, null, null, 1]);
                  assert.equal(sep2024.length, 6);
                  assert.deepEqual(sep2024[5], [30, null, null, null, null, null, null]);
                  const feb2024 = candidate(2024, 2).flat().filter((d) => d !== null);
                  assert.equal(feb2024.length, 29);
                }
            ''',
        ),
    ]


def _algorithms(task):
    return [
        task(
            "merge_ranges", "bookings.js", "mergeRanges",
            prompt=r'''
                // mergeRanges(ranges) takes [start, end] pairs (start <= end, in any order) of booked
                // minutes and returns the merged, sorted list in which overlapping or touching ranges
                // ([1, 3] and [3, 5]) become one. The input and its pairs must not be modified.
            ''',
            reference=r'''
                function mergeRanges(ranges) {
                  const sorted = ranges.map(([start, end]) => [start, end]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
                  const merged = [];
                  for (const [start, end] of sorted) {
                    const last = merged[merged.length - 1];
                    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
                    else merged.push([start, end]);
                  }
                  return merged;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const input = [[8, 10], [1, 3], [2, 6], [15, 18], [10, 11]];
                  assert.deepEqual(candidate(input), [[1, 6], [8, 11], [15, 18]]);
                  assert.deepEqual(input, [[8, 10], [1, 3], [2, 6], [15, 18], [10, 11]]);
                  assert.deepEqual(candidate([[1, 3], [3, 5]]), [[1, 5]]);
                  assert.deepEqual(candidate([[5, 5], [1, 10]]), [[1, 10]]);
                  assert.deepEqual(candidate([]), []);
                  assert.deepEqual(candidate([[-5, -1], [-2, 0]]), [[-5, 0]]);
                }
            ''',
        ),
        task(
            "to_roman", "numerals.js", "toRoman",
            prompt=r'''
                'use strict';

                // toRoman(n) writes an integer from 1 to 3999 in Roman numerals with the subtractive
                // forms (4 is "IV", 90 is "XC", 1994 is "MCMXCIV"). Throw a RangeError for anything
                // else, including non-integers.
            ''',
            reference=r'''
                const NUMERALS = [
                  [1000, 'M'], [900, 'CM'], [500, 'D'], [400, 'CD'], [100, 'C'], [90, 'XC'],
                  [50, 'L'], [40, 'XL'], [10, 'X'], [9, 'IX'], [5, 'V'], [4, 'IV'], [1, 'I'],
                ];

                function toRoman(n) {
                  if (!Number.isInteger(n) || n < 1 || n > 3999) {
                    throw new RangeError(`cannot write ${n} in Roman numerals`);
                  }
                  let out = '';
                  for (const [value, letters] of NUMERALS) {
                    while (n >= value) {
                      out += letters;
                      n -= value;
                    }
                  }
                  return out;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate(4), 'IV');
                  assert.equal(candidate(1994), 'MCMXCIV');
                  assert.equal(candidate(3999), 'MMMCMXCIX');
                  assert.equal(candidate(2024), 'MMXXIV');
                  assert.equal(candidate(1), 'I');
                  for (const bad of [0, 4000, 2.5, -3, NaN]) {
                    assert.throws(() => candidate(bad), RangeError);
                  }
                }
            ''',
        ),
        task(
            "lower_bound", "timeline.js", "lowerBound",
            prompt=r'''
                // lowerBound(sorted, target, key = (x) => x) is a binary search over an array sorted
                // ascending by key: return the first index whose key is >= target, or sorted.length
                // when there is none. It must take O(log n) comparisons (timelines are long).
            ''',
            reference=r'''
                function lowerBound(sorted, target, key = (x) => x) {
                  let lo = 0;
                  let hi = sorted.length;
                  while (lo < hi) {
                    const mid = (lo + hi) >>> 1;
                    if (key(sorted[mid]) < target) lo = mid + 1;
                    else hi = mid;
                  }
                  return lo;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.equal(candidate([1, 3, 3, 5, 8], 3), 1);
                  assert.equal(candidate([1, 3, 3, 5, 8], 4), 3);
                  assert.equal(candidate([1, 3, 3, 5, 8], 9), 5);
                  assert.equal(candidate([1, 3, 3, 5, 8], -1), 0);
                  assert.equal(candidate([], 1), 0);
                  const events = [{ t: 10 }, { t: 20 }, { t: 30 }];
                  assert.equal(candidate(events, 20, (e) => e.t), 1);
                  let calls = 0;
                  const big = Array.from({ length: 1 << 20 }, (_, i) => i);
                  assert.equal(candidate(big, 777777, (x) => { calls += 1; return x; }), 777777);
                  assert.ok(calls <= 25, `too many comparisons: ${calls}`);
                }
            ''',
        ),
        task(
            "build_order", "packages.js", "buildOrder",
            prompt=r'''
                // buildOrder(deps) receives an object mapping each package name to the array of
                // packages it depends on, and returns an array of every package (dependencies
                // included, even ones with no entry of their own) such that each package comes after
                // all of its dependencies. When several packages are ready, take them in alphabetical
                // order. Throw an Error whose message contains "cycle" if no such order exists.
            ''',
            reference=r'''
                function buildOrder(deps) {
                  const pending = new Map();
                  const users = new Map();
                  for (const [name, needs] of Object.entries(deps)) {
                    for (const pkg of [name, ...needs]) {
                      if (!pending.has(pkg)) { pending.set(pkg, 0); users.set(pkg, []); }
                    }
                  }
                  for (const [name, needs] of Object.entries(deps)) {
                    for (const need of new Set(needs)) {
                      pending.set(name, pending.get(name) + 1);
                      users.get(need).push(name);
                    }
                  }
                  const ready = [...pending.keys()].filter((p) => pending.get(p) === 0).sort();
                  const order = [];
                  while (ready.length) {
                    const pkg = ready.shift();
                    order.push(pkg);
                    for (const user of users.get(pkg)) {
                      pending.set(user, pending.get(user) - 1);
                      if (pending.get(user) === 0) { ready.push(user); ready.sort(); }
                    }
                  }
                  if (order.length !== pending.size) throw new Error('dependency cycle');
                  return order;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  assert.deepEqual(candidate({ app: ['lib', 'ui'], ui: ['lib'], lib: [] }), ['lib', 'ui', 'app']);
                  assert.deepEqual(candidate({ c: ['a'], b: ['a'], d: ['b', 'c'] }), ['a', 'b', 'c', 'd']);
                  assert.deepEqual(candidate({ web: ['zlib', 'http'] }), ['http', 'zlib', 'web']);
                  assert.deepEqual(candidate({}), []);
                  assert.throws(() => candidate({ a: ['b'], b: ['c'], c: ['a'] }), /cycle/);
                }
            ''',
        ),
        task(
            "dir_sizes", "diskUsage.js", "sizeByExtension",
            prompt=r'''
                const fs = require('fs');
                const path = require('path');

                // sizeByExtension(dir) walks a directory tree (synchronously, with fs) and returns an
                // object mapping each lowercase file extension without the dot ("js", "md") to the
                // total size in bytes of the regular files with that extension. Files without an
                // extension count under "". Symbolic links are not followed.
            ''',
            reference=r'''
                function sizeByExtension(dir) {
                  const totals = {};
                  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
                    const full = path.join(dir, entry.name);
                    if (entry.isDirectory()) {
                      for (const [ext, size] of Object.entries(sizeByExtension(full))) {
                        totals[ext] = (totals[ext] || 0) + size;
                      }
                    } else if (entry.isFile()) {
                      const ext = path.extname(entry.name).slice(1).toLowerCase();
                      totals[ext] = (totals[ext] || 0) + fs.statSync(full).size;
                    }
                  }
                  return totals;
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const fs = require('fs');
                  const os = require('os');
                  const path = require('path');
                  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sizes-'));
                  try {
                    fs.mkdirSync(path.join(root, 'src', 'deep'), { recursive: true });
                    fs.writeFileSync(path.join(root, 'README.MD'), 'x'.repeat(10));
                    fs.writeFileSync(path.join(root, 'src', 'a.js'), 'x'.repeat(7));
                    fs.writeFileSync(path.join(root, 'src', 'deep', 'b.js'), 'x'.repeat(5));
                    fs.writeFileSync(path.join(root, 'Makefile'), 'x'.repeat(3));
                    fs.symlinkSync(path.join(root, 'src'), path.join(root, 'link'));
                    assert.deepEqual(candidate(root), { md: 10, js: 12, '': 3 });
                    assert.deepEqual(candidate(path.join(root, 'src', 'deep')), { js: 5 });
                  } finally {
                    fs.rmSync(root, { recursive: true, force: true });
                  }
                }
            ''',
        ),
    ]


def _classes(task):
    return [
        task(
            "lru_cache", "cache.js", "LruCache",
            prompt=r'''
                'use strict';

                // class LruCache: a least-recently-used cache of at most `capacity` entries.
                //   new LruCache(capacity)  - throw a RangeError unless capacity is a positive integer
                //   get(key)                - the value, or undefined; a hit makes the key most recent
                //   set(key, value)         - insert or update (which also makes it most recent); when
                //                             full, evict the least recently used entry first
                //   size                    - a getter: the number of entries
                //   keys()                  - an array of keys from least to most recently used
            ''',
            reference=r'''
                class LruCache {
                  constructor(capacity) {
                    if (!Number.isInteger(capacity) || capacity < 1) {
                      throw new RangeError('capacity must be a positive integer');
                    }
                    this.capacity = capacity;
                    this.entries = new Map();
                  }

                  get(key) {
                    if (!this.entries.has(key)) return undefined;
                    const value = this.entries.get(key);
                    this.entries.delete(key);
                    this.entries.set(key, value);
                    return value;
                  }

                  set(key, value) {
                    this.entries.delete(key);
                    if (this.entries.size >= this.capacity) {
                      this.entries.delete(this.entries.keys().next().value);
                    }
                    this.entries.set(key, value);
                    return this;
                  }

                  get size() {
                    return this.entries.size;
                  }

                  keys() {
                    return [...this.entries.keys()];
                  }
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  const cache = new candidate(2);
                  cache.set('a', 1);
                  cache.set('b', 2);
                  assert.equal(cache.get('a'), 1);
                  cache.set('c', 3);
                  assert.equal(cache.get('b'), undefined);
                  assert.deepEqual(cache.keys(), ['a', 'c']);
                  cache.set('a', 10);
                  assert.deepEqual(cache.keys(), ['c', 'a']);
                  assert.equal(cache.size, 2);
                  cache.set(0, 'zero');
                  assert.deepEqual(cache.keys(), ['a', 0]);
                  assert.equal(cache.get(0), 'zero');
                  assert.throws(() => new candidate(0), RangeError);
                  assert.throws(() => new candidate(1.5), RangeError);
                }
            ''',
        ),
        task(
            "rate_limiter", "throttle.js", "RateLimiter",
            prompt=r'''
                // class RateLimiter enforces "at most `limit` calls per `windowMs` milliseconds" with a
                // sliding window. The clock is injected so tests never wait:
                //   new RateLimiter(limit, windowMs, now = () => Date.now())
                //   tryAcquire()  - true and records the call if fewer than `limit` calls happened in
                //                   the last windowMs (a call exactly windowMs ago no longer counts);
                //                   otherwise false, recording nothing
                //   retryAfter()  - milliseconds until tryAcquire could succeed (0 if it would now)
            ''',
            reference=r'''
                class RateLimiter {
                  constructor(limit, windowMs, now = () => Date.now()) {
                    this.limit = limit;
                    this.windowMs = windowMs;
                    this.now = now;
                    this.calls = [];
                  }

                  prune() {
                    const horizon = this.now() - this.windowMs;
                    while (this.calls.length && this.calls[0] <= horizon) this.calls.shift();
                  }

                  tryAcquire() {
                    this.prune();
                    if (this.calls.length >= this.limit) return false;
                    this.calls.push(this.now());
                    return true;
                  }

                  retryAfter() {
                    this.prune();
                    if (this.calls.length < this.limit) return 0;
                    return this.calls[0] + this.windowMs - this.now();
                  }
                }
            ''',
            tests=r'''
                function check(candidate) {
                  const assert = require('assert/strict');
                  let t = 1000;
                  const limiter = new candidate(2, 100, () => t);
                  assert.equal(limiter.tryAcquire(), true);
                  t = 1030;
                  assert.equal(limiter.tryAcquire(), true);
                  assert.equal(limiter.tryAcquire(), false);
                  assert.equal(limiter.retryAfter(), 70);
                  t = 1099;
                  assert.equal(limiter.tryAcquire(), false);
                  t = 1100;
                  assert.equal(limiter.retryAfter(), 0);
                  assert.equal(limiter.tryAcquire(), true);
                  assert.equal(limiter.tryAcquire(), false);
                  assert.equal(limiter.retryAfter(), 30);
                }
            ''',
        ),
    ]
