//! Test data shared by the engine's unit tests and the integration tests, so that there is one
//! list of the strings postwire must never write plain. Not part of the engine's API.
#![doc(hidden)]

/// YAML 1.1 traps: strings a YAML 1.1 reader (PyYAML, Go's yaml.v2 behind kubectl and Helm) or a
/// YAML 1.2 reader turns into booleans, nulls, numbers, dates or the merge key when they are
/// written plain. The integration tests also put these into documents as plain, single- and
/// double-quoted keys and values, so every entry here is a valid plain scalar.
pub const TRAPS: &[&str] = &[
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "~",
    "=",
    "0755",
    "1e3",
    ".inf",
    "1_000",
    "2001-01-01",
    "12:30:45",
    "0x1F",
    "+1",
    "1.0",
    "08",
    "0o755",
    "<<",
    "null",
    "true",
];

/// More strings a writer must get right: case variants of the traps, other number and float
/// spellings, indicators, white space, escapes, the characters YAML 1.1 reads as line breaks
/// (NEL, LS, PS), a BOM, controls, and the non-characters U+FFFE and U+FFFF that YAML forbids
/// in a stream (both readers reject them unescaped).
pub const MORE: &[&str] = &[
    "Y",
    "N",
    "On",
    "OFF",
    "Yes",
    "NO",
    "True",
    "FALSE",
    "Null",
    "NULL",
    "-.inf",
    ".NaN",
    ".nan",
    "-1",
    "0b101",
    "3e3",
    "190:20:30",
    "2001-12-14t21:59:43.10-05:00",
    "-",
    "",
    " lead",
    "trail ",
    "a: b",
    "#x",
    "x #y",
    "@at",
    "`tick",
    "!tag",
    "&anchor",
    "*alias",
    "%pct",
    "|",
    ">",
    "[a]",
    "{a}",
    "'single'",
    "\"double\"",
    "quote\"back\\slash",
    "tab\there",
    "new\nline",
    "cr\rx",
    "back\\slash",
    "nel\u{85}x",
    "ls\u{2028}x",
    "ps\u{2029}x",
    "bom\u{feff}x",
    "fffe\u{fffe}x",
    "ffff\u{ffff}x",
    "\u{fffe}",
    "\u{ffff}",
    "\u{85}",
    "bell\u{7}",
    "del\u{7f}",
    "c1\u{9b}x",
    "ü",
    "日本",
];

/// Every string of [`TRAPS`] and [`MORE`].
pub fn all_traps() -> impl Iterator<Item = &'static str> {
    TRAPS.iter().chain(MORE).copied()
}
