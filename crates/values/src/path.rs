//! Paths into nested values (like `.args.items[3].name`), used to say where an error occurred.

use std::fmt::Write as _;

/// How the top-level value itself is written.
pub(crate) const ROOT: &str = ".";

/// One step from a container to one of its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// A field of an object.
    Field(&'a str),
    /// An element of an array.
    Index(usize),
}

/// True for names that can be written as `.name` without quoting.
fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn write_segment(segment: Segment<'_>, out: &mut String) {
    // Writing into a String cannot fail.
    let _ = match segment {
        Segment::Field(name) if is_plain_name(name) => write!(out, ".{name}"),
        Segment::Field(name) => write!(out, "[{name:?}]"),
        Segment::Index(i) => write!(out, "[{i}]"),
    };
}

/// The path of a child: `segment` followed by `path` (which is relative to that child).
pub(crate) fn prepend(segment: Segment<'_>, path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    write_segment(segment, &mut out);
    if path != ROOT {
        out.push_str(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fields_use_dots_and_others_are_quoted() {
        assert_eq!(prepend(Segment::Field("args"), ROOT), ".args");
        assert_eq!(prepend(Segment::Field("$x"), ROOT), "[\"$x\"]");
        assert_eq!(prepend(Segment::Field(""), ROOT), "[\"\"]");
        assert_eq!(prepend(Segment::Field("a b"), ".c"), "[\"a b\"].c");
        assert_eq!(prepend(Segment::Index(3), ".name"), "[3].name");
    }
}
