//! A minimal streaming XML tag scanner, enough to read a few attributes before calamine sees a file.

/// Longest tag accepted; a spreadsheet has no reason to write one longer.
const MAX_TAG_BYTES: usize = 1024 * 1024;

/// What the scanner reports.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// `<name attrs>` or `<name attrs/>`; `attrs` is the raw text after the name.
    Start {
        name: &'a [u8],
        attrs: &'a [u8],
        empty: bool,
    },
    End {
        name: &'a [u8],
    },
    /// Character data between tags (CDATA included), as a byte count.
    Text(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    Tag {
        quote: Option<u8>,
    },
    /// Skips to the terminator, e.g. `-->`; `matched` counts terminator bytes seen.
    Skip {
        end: &'static [u8],
        matched: usize,
        cdata: bool,
    },
}

/// Tag longer than [`MAX_TAG_BYTES`].
#[derive(Debug)]
pub(crate) struct TagTooLong;

/// Feeds on chunks of a document and reports tags as it completes them.
#[derive(Debug)]
pub(crate) struct Scanner {
    state: State,
    tag: Vec<u8>,
    text: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Self {
            state: State::Text,
            tag: Vec::new(),
            text: 0,
        }
    }
}

impl Scanner {
    pub(crate) fn feed<E: From<TagTooLong>>(
        &mut self,
        mut chunk: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !chunk.is_empty() {
            match self.state {
                State::Text => match chunk.iter().position(|&b| b == b'<') {
                    Some(i) => {
                        self.text += i;
                        if self.text > 0 {
                            on_event(Event::Text(self.text))?;
                            self.text = 0;
                        }
                        self.tag.clear();
                        self.state = State::Tag { quote: None };
                        chunk = &chunk[i + 1..];
                    }
                    None => {
                        self.text += chunk.len();
                        chunk = &[];
                    }
                },
                State::Skip {
                    end,
                    mut matched,
                    cdata,
                } => {
                    let mut consumed = 0;
                    let mut done = false;
                    for &b in chunk {
                        consumed += 1;
                        matched = advance(end, matched, b);
                        if matched == end.len() {
                            done = true;
                            break;
                        }
                    }
                    if cdata {
                        self.text += consumed;
                    }
                    chunk = &chunk[consumed..];
                    self.state = if done {
                        State::Text
                    } else {
                        State::Skip {
                            end,
                            matched,
                            cdata,
                        }
                    };
                }
                State::Tag { mut quote } => {
                    let mut consumed = 0;
                    let mut done = false;
                    for &b in chunk {
                        consumed += 1;
                        match quote {
                            Some(q) if b == q => quote = None,
                            Some(_) => {}
                            None if b == b'"' || b == b'\'' => quote = Some(b),
                            None if b == b'>' => {
                                done = true;
                                break;
                            }
                            None => {}
                        }
                        self.tag.push(b);
                        if self.tag.len() > MAX_TAG_BYTES {
                            return Err(TagTooLong.into());
                        }
                        if let Some(skip) = special(&self.tag) {
                            self.state = skip;
                            break;
                        }
                    }
                    chunk = &chunk[consumed..];
                    if matches!(self.state, State::Skip { .. }) {
                        continue;
                    }
                    if done {
                        self.state = State::Text;
                        emit(&self.tag, on_event)?;
                    } else {
                        self.state = State::Tag { quote };
                    }
                }
            }
        }
        Ok(())
    }
}

/// Bytes of `end` matched after `b`, given `matched` before it (terminators are 3 bytes).
fn advance(end: &[u8], matched: usize, b: u8) -> usize {
    let mut seen = [0u8; 4];
    seen[..matched].copy_from_slice(&end[..matched]);
    seen[matched] = b;
    let seen = &seen[..=matched];
    (0..=seen.len().min(end.len()))
        .rev()
        .find(|&k| seen.ends_with(&end[..k]))
        .unwrap_or(0)
}

/// Comments, CDATA, processing instructions and declarations are skipped, not parsed.
fn special(tag: &[u8]) -> Option<State> {
    let skip = |end, cdata| {
        Some(State::Skip {
            end,
            matched: 0,
            cdata,
        })
    };
    match tag {
        b"!--" => skip(b"-->", false),
        b"![CDATA[" => skip(b"]]>", true),
        b"?" => skip(b"?>", false),
        _ => None,
    }
}

fn emit<E>(tag: &[u8], on_event: &mut dyn FnMut(Event<'_>) -> Result<(), E>) -> Result<(), E> {
    if tag.first() == Some(&b'!') {
        // <!DOCTYPE ...>
        return Ok(());
    }
    if let Some(rest) = tag.strip_prefix(b"/") {
        return on_event(Event::End {
            name: rest.trim_ascii(),
        });
    }
    let (body, empty) = match tag.strip_suffix(b"/") {
        Some(body) => (body, true),
        None => (tag, false),
    };
    let name_end = body
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(body.len());
    on_event(Event::Start {
        name: &body[..name_end],
        attrs: &body[name_end..],
        empty,
    })
}

/// The value of attribute `key` (qualified name, compared exactly), entities left as is.
pub(crate) fn attr<'a>(attrs: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut rest = attrs;
    loop {
        rest = rest.trim_ascii_start();
        let eq = rest.iter().position(|&b| b == b'=')?;
        let name = rest[..eq].trim_ascii();
        let after = rest[eq + 1..].trim_ascii_start();
        let quote = *after.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let len = after[1..].iter().position(|&b| b == quote)?;
        let value = &after[1..1 + len];
        if name == key {
            return Some(value);
        }
        rest = &after[len + 2..];
    }
}

/// The part of a qualified name after the prefix.
pub(crate) fn local_name(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Err;

    impl From<TagTooLong> for Err {
        fn from(_: TagTooLong) -> Self {
            Err
        }
    }

    fn events(doc: &[u8], chunk: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut scanner = Scanner::default();
        for part in doc.chunks(chunk) {
            scanner
                .feed::<Err>(part, &mut |e| {
                    out.push(match e {
                        Event::Start { name, attrs, empty } => format!(
                            "<{}|{}|{}>",
                            String::from_utf8_lossy(name),
                            String::from_utf8_lossy(attrs).trim(),
                            empty
                        ),
                        Event::End { name } => format!("</{}>", String::from_utf8_lossy(name)),
                        Event::Text(n) => format!("#{n}"),
                    });
                    Ok(())
                })
                .unwrap();
        }
        out
    }

    #[test]
    fn scans_tags_across_chunks() {
        let doc =
            br#"<?xml version="1.0"?><!-- a <b> --><a x="1>2" y='z'><b/>hello<![CDATA[<c>]]></a>"#;
        let expected = vec!["<a|x=\"1>2\" y='z'|false>", "<b||true>", "#5", "#6", "</a>"];
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(events(doc, chunk), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn comments_end_after_extra_dashes() {
        assert_eq!(events(b"<!-- x ---><a/>", 1), vec!["<a||true>"]);
        assert_eq!(events(b"<![CDATA[a]]]>b<c/>", 2), vec!["#6", "<c||true>"]);
    }

    #[test]
    fn reads_attributes() {
        let attrs = br#" ref="A1:D39" t = 'n' table:number-rows-repeated="3""#;
        assert_eq!(attr(attrs, b"ref"), Some(b"A1:D39".as_slice()));
        assert_eq!(attr(attrs, b"t"), Some(b"n".as_slice()));
        assert_eq!(
            attr(attrs, b"table:number-rows-repeated"),
            Some(b"3".as_slice())
        );
        assert_eq!(attr(attrs, b"missing"), None);
        assert_eq!(local_name(b"x:dimension"), b"dimension");
    }

    #[test]
    fn refuses_endless_tags() {
        let mut scanner = Scanner::default();
        let doc = vec![b'a'; 2 * MAX_TAG_BYTES];
        let result = scanner.feed::<Err>(b"<", &mut |_| Ok(()));
        assert!(result.is_ok());
        assert!(scanner.feed::<Err>(&doc, &mut |_| Ok(())).is_err());
    }
}
